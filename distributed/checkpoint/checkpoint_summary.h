// What `torus ckpt inspect` reports about a checkpoint directory: whether it is committed
// and intact, its training state, and its logical tensors. Describing never fails on a
// damaged checkpoint: the damage is part of the description.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::checkpoint {

struct TensorSummary {
  std::string name;  // "model.<state_dict name>" or "optimizer.<parameter>.<field>"
  std::string dtype;
  Shape shape;
  uint64_t bytes = 0;
  size_t pieces = 0;
  std::optional<uint32_t> crc32;  // of the whole tensor's bytes; only for an intact checkpoint
};

struct CheckpointSummary {
  std::filesystem::path path;
  bool committed = false;  // renamed from step_N.tmp with manifest.json: the save finished
  bool intact = false;     // committed, and every file has its manifest size and CRC-32
  std::string problem;     // why not committed, or which file fails and how; empty when intact
  std::string note;        // why the tensors are not listed, when that is no damage
  std::optional<int64_t> step;
  std::optional<int> world_size, zero_stage;
  std::string format;  // "torus-checkpoint v1"
  std::string torus_version;
  uint64_t file_bytes = 0;  // every file in the directory
  uint64_t model_bytes = 0, optimizer_bytes = 0;
  std::vector<TensorSummary> tensors;  // empty when the index is missing or unreadable
};

// With `tensors`, also the index's tensors (HDF5 format: checkpoint.h5's datasets), and
// their CRC-32s when intact; without, just the state and the verdict (a run directory's
// listing).
CheckpointSummary summarize_checkpoint(const std::filesystem::path& dir, bool tensors = true);

}  // namespace torus::checkpoint
