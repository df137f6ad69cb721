#pragma once
#include "backend.h"
namespace portolan {
/// nftables: one `nft -f` file with an inet table of its own (IPv4 and IPv6 together).
std::unique_ptr<Backend> make_nftables_backend();
} // namespace portolan
