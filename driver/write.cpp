#include "write.h"

namespace portolan {

bool write_outputs(const std::filesystem::path& out_dir, OutputSetWriter& files, std::ostream& log,
                   std::string& err) {
  if (!files.commit(err))
    return false;
  for (const std::string& rel : files.names())
    log << "wrote " << (out_dir / rel).generic_string() << "\n";
  return true;
}

} // namespace portolan
