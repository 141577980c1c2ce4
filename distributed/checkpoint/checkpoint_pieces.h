// A checkpoint's logical tensors read in place: index.json checked, the shard files mapped,
// and every piece located in its shard and checked against the index, without copying a
// byte. What `torus ckpt export` streams from and `torus ckpt inspect` checksums.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"

namespace torus::checkpoint {

// Elements [start, start + count) of a logical tensor: `size` bytes at `bytes`.
struct MappedPiece {
  const uint8_t* bytes = nullptr;
  uint64_t size = 0;
  int64_t start = 0, count = 0;
};

struct MappedTensor {
  std::string name;  // "model.<state_dict name>" or "optimizer.<parameter>.<field>"
  DType dtype = DType::f32;
  Shape shape;
  std::vector<MappedPiece> pieces;  // by start: they cover the tensor exactly, in order
  uint64_t bytes() const;
};

// The single file of a checkpoint saved with checkpoint.format: hdf5 (no shards, no index).
inline constexpr const char* kHdf5CheckpointFile = "checkpoint.h5";

// dir/index.json, parsed, its format checked and its pieces' coverage too; an IOError
// names the file, and says so for an HDF5-format checkpoint (read through checkpoint_hdf5.h).
nlohmann::ordered_json read_checkpoint_index(const std::filesystem::path& dir);

// The Torus dtype of an index's dtype name ("F32"); an IOError naming `what` otherwise.
DType dtype_of_name(const std::string& name, const std::string& what);

class MappedCheckpoint {
 public:
  // Reads the index and maps every shard it names. Checks the structure, not checksums:
  // verify_checkpoint first.
  explicit MappedCheckpoint(const std::filesystem::path& dir);
  const std::vector<MappedTensor>& tensors() const { return tensors_; }

 private:
  std::map<std::string, io::MappedSafetensors> files_;  // by file name; keeps the mappings
  std::vector<MappedTensor> tensors_;                   // in the index's order
};

}  // namespace torus::checkpoint
