// `torus ckpt export`: a checkpoint's model weights as one safetensors file for serving
// (PyTorch, Candle, any safetensors reader), or above a size limit as shards plus an
// index in Hugging Face's layout:
//   <stem>-00001-of-0000N.safetensors ...   next to OUT (<stem>.safetensors)
//   OUT.index.json                          {"metadata": {"total_size"}, "weight_map": {name: file}}
// Tensors carry their state_dict names ("model." dropped) and real shapes; the optimizer
// state stays behind. __metadata__ holds "format": "pt", "step", "torus_version" and
// "torus_config" (the run's resolved config, YAML). Bytes stream from the mapped shard
// pieces (HDF5 format: from checkpoint.h5, a block of one dataset at a time; the same
// output bytes as from the same state in safetensors format) into the output, so the
// model is never assembled in memory, and past the page cache when large (framework/io/direct_writer.h); every file is written durably
// (temporary name, fsync, rename), the index last.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace torus::checkpoint {

inline constexpr double kDefaultMaxShardMb = 2048;

struct ExportResult {
  std::filesystem::path checkpoint;       // the checkpoint exported
  std::vector<std::filesystem::path> files;  // written: OUT, or the shards then the index
  int64_t step = 0;
  size_t tensors = 0;
  uint64_t bytes = 0;  // of tensor data
};

// `checkpoint` is a checkpoint directory (verified first: its manifest's sizes and
// CRC-32s). A model larger than max_shard_mb MiB is sharded. Any problem is an IOError
// naming the file; nothing is left half-written.
ExportResult export_checkpoint(const std::filesystem::path& checkpoint, const std::filesystem::path& out,
                               double max_shard_mb = kDefaultMaxShardMb);

}  // namespace torus::checkpoint
