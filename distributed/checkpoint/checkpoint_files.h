// The names and rules of a checkpoint directory's files (see checkpoint.h), shared by
// the writer, the reader and `torus ckpt inspect`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace torus::checkpoint {

inline constexpr const char* kIndexFile = "index.json";
inline constexpr const char* kHdf5File = "checkpoint.h5";
inline constexpr const char* kStateFile = "training_state.json";
inline constexpr const char* kConfigFile = "config.yaml";
inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kLatestFile = "latest";
extern const char* const kTorusVersion;

// "step_00000120"; a directory name that is not one gives -1.
std::string checkpoint_name(int64_t step);
int64_t step_of_name(const std::string& name);
// "shard-00001-of-00004.safetensors"
std::string shard_file_name(int rank, int world);

// "<tensor>@<start>" split; an IOError naming `file` when it is not one.
struct PieceKey {
  std::string tensor;
  int64_t start = 0;
};
PieceKey parse_piece_key(const std::string& key, const std::string& file);

// Throws an IOError naming the tensor when its pieces leave a gap, overlap or run past
// its end (index["tensors"][name] = {dtype, shape, pieces: [{file, key, start, count}]}).
void check_coverage(const nlohmann::ordered_json& index, const std::string& what);

// The committed checkpoints (step_N directories, not step_N.tmp) under `dir`, by step.
std::vector<std::pair<int64_t, std::filesystem::path>> committed_checkpoints(const std::filesystem::path& dir);

}  // namespace torus::checkpoint
