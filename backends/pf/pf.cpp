// Placeholder until the pf backend lands: it refuses to emit anything.
#include "pf.h"

namespace portolan {
namespace {
class Placeholder : public Backend {
public:
  std::string name() const override { return "pf"; }
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const override {
    diags.error("unrealizable", rs.target->backend_loc, "the pf backend is not implemented yet");
    return {};
  }
};
} // namespace
std::unique_ptr<Backend> make_pf_backend() {
  return std::make_unique<Placeholder>();
}
} // namespace portolan
