// Placeholder until the asa backend lands: it refuses to emit anything.
#include "asa.h"

namespace portolan {
namespace {
class Placeholder : public Backend {
public:
  std::string name() const override { return "asa"; }
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const override {
    diags.error("unrealizable", rs.target->backend_loc, "the asa backend is not implemented yet");
    return {};
  }
};
} // namespace
std::unique_ptr<Backend> make_asa_backend() {
  return std::make_unique<Placeholder>();
}
} // namespace portolan
