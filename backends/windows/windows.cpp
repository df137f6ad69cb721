// Placeholder until the windows backend lands: it refuses to emit anything.
#include "windows.h"

namespace portolan {
namespace {
class Placeholder : public Backend {
public:
  std::string name() const override { return "windows"; }
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const override {
    diags.error("unrealizable", rs.target->backend_loc,
                "the windows backend is not implemented yet");
    return {};
  }
};
} // namespace
std::unique_ptr<Backend> make_windows_backend() {
  return std::make_unique<Placeholder>();
}
} // namespace portolan
