#include "write.h"

#include "output.h"

namespace portolan {

bool write_outputs(const std::filesystem::path& out_dir, const OutputSet& files, std::ostream& log,
                   std::string& err) {
  std::vector<BuildFile> set;
  set.reserve(files.size());
  for (const auto& [rel, content] : files)
    set.push_back({rel.generic_string(), content});
  if (!write_output_set(out_dir, set, err))
    return false;
  for (const BuildFile& f : set)
    log << "wrote " << (out_dir / f.rel).generic_string() << "\n";
  return true;
}

} // namespace portolan
