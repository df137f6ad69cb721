#pragma once
#include "backend.h"
namespace portolan {
/// OpenBSD/FreeBSD pf: a pf.conf rule set (tables, block default, pass ... keep state).
std::unique_ptr<Backend> make_pf_backend();
} // namespace portolan
