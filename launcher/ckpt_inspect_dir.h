// `torus ckpt inspect` of directories: one checkpoint (its state, whether it is committed
// and intact, its logical tensors), or a run directory / checkpoints folder (each
// checkpoint with its verdict, and the one resume=auto and export would take).
#pragma once

#include <filesystem>

namespace torus::cli {

void inspect_directory(const std::filesystem::path& dir, bool as_json);

}  // namespace torus::cli
