#pragma once
#include "backend.h"
namespace portolan {
/// Cisco ASA: object-groups, extended access-lists and access-group bindings.
std::unique_ptr<Backend> make_asa_backend();
} // namespace portolan
