#pragma once
#include "backend.h"
namespace portolan {
/// iptables: `iptables-restore` and `ip6tables-restore` files (output + ".v4" / ".v6").
std::unique_ptr<Backend> make_iptables_backend();
} // namespace portolan
