// Telling checkpoint, run and checkpoints directories apart (see checkpoint_locate.h).
#include "distributed/checkpoint/checkpoint_locate.h"

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;

int64_t step_of_dir(const fs::path& dir) {
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();  // "step_N/"
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) name.resize(name.size() - 4);
  return step_of_name(name);
}

bool is_checkpoint_dir(const fs::path& dir) {
  if (step_of_dir(dir) >= 0) return true;
  for (const char* file : {kManifestFile, kIndexFile, kStateFile})
    if (fs::exists(dir / file)) return true;
  return false;
}

std::optional<fs::path> checkpoints_folder_of(const fs::path& dir) {
  if (fs::is_directory(dir / "checkpoints")) return dir / "checkpoints";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.is_directory() && step_of_dir(entry.path()) >= 0) return dir;
  }
  return std::nullopt;
}

fs::path resolve_checkpoint(const fs::path& path, std::vector<std::string>& skipped) {
  if (!fs::is_directory(path))
    throw IOError(fmt::format("{}: {}", path.string(), fs::exists(path) ? "not a directory" : "no such directory"));
  if (is_checkpoint_dir(path)) return path;
  const std::optional<fs::path> folder = checkpoints_folder_of(path);
  if (!folder)
    throw IOError(fmt::format("{}: neither a checkpoint nor a run directory (no checkpoints/ in it)", path.string()));
  if (const std::optional<fs::path> latest = find_latest_checkpoint(*folder, skipped)) return *latest;
  std::string why = skipped.empty() ? "none was saved" : "skipped: ";
  for (size_t i = 0; i < skipped.size(); ++i) why += (i > 0 ? "; " : "") + skipped[i];
  throw IOError(fmt::format("{}: no intact checkpoint ({})", folder->string(), why));
}

}  // namespace torus::checkpoint
