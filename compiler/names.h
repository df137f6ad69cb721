// Vendor names made from policy names: unique by construction and within each vendor's length
// limit. A name is never made unique by numbering ("_2"), which can meet a real name.
#pragma once

#include <string>
#include <string_view>

namespace portolan {

/// 8 lowercase hex digits of the 32-bit FNV-1a hash of `s`: stable across runs and platforms.
std::string name_hash(std::string_view s);

/// `name + suffix` when it fits in `max` bytes; otherwise the start of `name`, then "--", the
/// hash of `key` (the full, unique text the name stands for) and `suffix`, `max` bytes in all.
/// Callers use it only for names that never contain "--" themselves, so a cut name never
/// equals an uncut one, and two cut names differ unless their keys' hashes collide.
std::string fit_name(std::string_view name, std::string_view key, std::string_view suffix,
                     size_t max);

} // namespace portolan
