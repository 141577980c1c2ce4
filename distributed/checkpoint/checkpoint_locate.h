// What a path given to `torus ckpt` names: one checkpoint directory, a run directory (its
// checkpoints/ folder), or a checkpoints folder itself (step_N directories).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace torus::checkpoint {

// The step of a step_N or step_N.tmp directory; -1 for any other name.
int64_t step_of_dir(const std::filesystem::path& dir);

// A checkpoint directory, committed or not: it holds a checkpoint's own files or carries
// a step_N (or step_N.tmp) name.
bool is_checkpoint_dir(const std::filesystem::path& dir);

// The folder of step_N directories `dir` names: dir/checkpoints of a run directory, or
// `dir` itself when it holds step_N directories; none otherwise.
std::optional<std::filesystem::path> checkpoints_folder_of(const std::filesystem::path& dir);

// A checkpoint directory as given, or the newest intact checkpoint of a run directory or
// checkpoints folder (each newer one skipped adds a line to `skipped`). An IOError says
// why there is none.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& path, std::vector<std::string>& skipped);

}  // namespace torus::checkpoint
