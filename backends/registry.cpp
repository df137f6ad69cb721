// The one table of backends. Adding a backend adds one line here and a folder of its own.
#include "backend.h"

#include "asa/asa.h"
#include "aws/aws.h"
#include "iptables/iptables.h"
#include "nftables/nftables.h"
#include "pf/pf.h"
#include "windows/windows.h"

#include <utility>

namespace portolan {

namespace {
using Factory = std::unique_ptr<Backend> (*)();
const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> table{
      {"asa", &make_asa_backend},
      {"aws", &make_aws_backend},
      {"iptables", &make_iptables_backend},
      {"nftables", &make_nftables_backend},
      {"pf", &make_pf_backend},
      {"windows", &make_windows_backend},
  };
  return table;
}
} // namespace

std::vector<std::string> backend_names() {
  std::vector<std::string> out;
  for (const auto& [n, f] : registry())
    out.push_back(n);
  return out;
}

std::map<std::string, std::vector<std::string>> backend_suffixes() {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [n, f] : registry())
    out.emplace(n, f()->suffixes());
  return out;
}

std::unique_ptr<Backend> make_backend(const std::string& name) {
  for (const auto& [n, f] : registry())
    if (n == name)
      return f();
  return nullptr;
}

} // namespace portolan
