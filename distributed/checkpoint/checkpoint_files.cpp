// Checkpoint file names and the index's coverage rule (see checkpoint_files.h).
#include "distributed/checkpoint/checkpoint_files.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::checkpoint {

const char* const kTorusVersion = TORUS_VERSION_STRING;

std::string checkpoint_name(int64_t step) { return fmt::format("step_{:08d}", step); }

int64_t step_of_name(const std::string& name) {
  constexpr std::string_view prefix = "step_";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  int64_t step = -1;
  const char* end = name.data() + name.size();
  const auto [ptr, error] = std::from_chars(name.data() + prefix.size(), end, step);
  return error == std::errc() && ptr == end && step >= 0 ? step : -1;
}

std::string shard_file_name(int rank, int world) { return fmt::format("shard-{:05d}-of-{:05d}.safetensors", rank, world); }

PieceKey parse_piece_key(const std::string& key, const std::string& file) {
  const size_t at = key.rfind('@');
  PieceKey out;
  if (at != std::string::npos && at > 0) {
    out.tensor = key.substr(0, at);
    const char* end = key.data() + key.size();
    const auto [ptr, error] = std::from_chars(key.data() + at + 1, end, out.start);
    if (error == std::errc() && ptr == end && out.start >= 0) return out;
  }
  throw IOError(fmt::format("{}: tensor '{}' is not a checkpoint piece (expected '<name>@<start>')", file, key));
}

void check_coverage(const nlohmann::ordered_json& index, const std::string& what) {
  if (!index.contains("tensors") || !index["tensors"].is_object())
    throw IOError(fmt::format("{}: no \"tensors\" object", what));
  for (const auto& [name, tensor] : index["tensors"].items()) {
    int64_t numel = 1;
    for (const auto& d : tensor.at("shape")) numel *= d.get<int64_t>();
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (const auto& piece : tensor.at("pieces"))
      ranges.emplace_back(piece.at("start").get<int64_t>(), piece.at("count").get<int64_t>());
    std::sort(ranges.begin(), ranges.end());
    int64_t covered = 0;
    for (const auto& [start, count] : ranges) {
      if (start != covered || count <= 0 || start + count > numel)
        throw IOError(fmt::format("{}: tensor '{}' ({} elements): pieces leave a gap, overlap or run past its end "
                                  "at element {}",
                                  what, name, numel, std::min(start, covered)));
      covered += count;
    }
    if (covered != numel)
      throw IOError(fmt::format("{}: tensor '{}' has {} of its {} elements (a missing shard?)", what, name, covered,
                                numel));
  }
}

std::vector<std::pair<int64_t, std::filesystem::path>> committed_checkpoints(const std::filesystem::path& dir) {
  std::vector<std::pair<int64_t, std::filesystem::path>> out;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const int64_t step = step_of_name(entry.path().filename().string());
    if (step >= 0 && entry.is_directory()) out.emplace_back(step, entry.path());
  }
  return out;
}

}  // namespace torus::checkpoint
