// Reads back the Terraform JSON the aws backend emits: strict JSON (no duplicate keys, no
// trailing commas), then the subset of Terraform it uses — security groups, separate
// ingress/egress rule resources and one output per group naming the addresses it is attached
// to. Security group semantics: the union of the rules, everything else dropped; an ingress
// rule lets its CIDR reach the group's addresses, an egress rule lets the group's addresses
// reach its CIDR.
#pragma once

#include "reader_common.h"

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace portolan::roundtrip {

/// Parses one JSON document (nlohmann-json, objects keep their key order); ReadError on anything
/// RFC 8259 does not allow, and on duplicate keys.
nlohmann::ordered_json parse_json(const std::string& text);

struct AwsRead {
  ChainPackets allowed;                  ///< input (ingress) and output (egress); forward is empty
  int rules = 0;                         ///< rule resources for policy flows
  int nd_rules = 0;                      ///< the neighbour-discovery rules
  int groups = 0;                        ///< aws_security_group resources
  bool vpc_variable = false;             ///< `variable "vpc_id"` is declared and used
  std::map<std::string, int> resources;  ///< resource type -> count
  std::vector<std::string> descriptions; ///< every name and description, as AWS would store it
};

AwsRead read_aws(const std::string& text);

} // namespace portolan::roundtrip
