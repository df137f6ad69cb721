// The parser's public face. No ANTLR type appears here: the parse tree is turned into the model
// inside compiler/parse/parse.cpp and never leaves it.
#pragma once

#include "diagnostic.h"
#include "model.h"

namespace portolan {

/// Parses one registered source file. Syntax and literal errors (bad ports, dates, ICMP) go to
/// `diags`; the returned file holds whatever could be understood. Never throws.
PolicyFile parse_policy_file(const SourceManager& sm, uint32_t file_id, Diagnostics& diags);

} // namespace portolan
