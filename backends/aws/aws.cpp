// Placeholder until the aws backend lands: it refuses to emit anything.
#include "aws.h"

namespace portolan {
namespace {
class Placeholder : public Backend {
public:
  std::string name() const override { return "aws"; }
  std::vector<OutputFile> emit(const RuleSet& rs, Diagnostics& diags) const override {
    diags.error("unrealizable", rs.target->backend_loc, "the aws backend is not implemented yet");
    return {};
  }
};
} // namespace
std::unique_ptr<Backend> make_aws_backend() {
  return std::make_unique<Placeholder>();
}
} // namespace portolan
