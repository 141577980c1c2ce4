// Converting a committed checkpoint between the safetensors and HDF5 formats (see
// checkpoint.h), for tools that move checkpoints between Torus and HDF5 readers.
#pragma once

#include <filesystem>

namespace torus::checkpoint {

// Reads the checkpoint `in` whole (checked as load_checkpoint checks it) and writes the
// same state and tensors in the other format as the new checkpoint directory `out`,
// committed as a save commits (out.tmp, then renamed), with one shard or one HDF5 file.
// One process; `out` must not exist, and checkpoints/latest is left alone.
void convert_checkpoint(const std::filesystem::path& in, const std::filesystem::path& out);

}  // namespace torus::checkpoint
