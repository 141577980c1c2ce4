// Listing checkpoint and run directories (see ckpt_inspect_dir.h).
#include "launcher/ckpt_inspect_dir.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint_locate.h"
#include "distributed/checkpoint/checkpoint_summary.h"
#include "kernels/common/error.h"

namespace torus::cli {
namespace fs = std::filesystem;
namespace {

std::string verdict(const checkpoint::CheckpointSummary& s) {
  if (s.intact) return "committed, checksums verified";
  if (!s.committed) return "NOT COMMITTED (" + s.problem + ")";
  return "CORRUPT: " + s.problem;
}

nlohmann::ordered_json to_json(const checkpoint::CheckpointSummary& s, bool tensors) {
  nlohmann::ordered_json doc = {{"path", s.path.string()}, {"format", s.format}};
  doc["step"] = s.step ? nlohmann::ordered_json(*s.step) : nullptr;
  doc["world_size"] = s.world_size ? nlohmann::ordered_json(*s.world_size) : nullptr;
  doc["zero_stage"] = s.zero_stage ? nlohmann::ordered_json(*s.zero_stage) : nullptr;
  doc["torus_version"] = s.torus_version;
  doc["committed"] = s.committed;
  doc["intact"] = s.intact;
  doc["problem"] = s.problem.empty() ? nullptr : nlohmann::ordered_json(s.problem);
  doc["bytes"] = s.file_bytes;
  if (!s.note.empty()) doc["note"] = s.note;
  if (!tensors) return doc;
  doc["model_bytes"] = s.model_bytes;
  doc["optimizer_bytes"] = s.optimizer_bytes;
  doc["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : s.tensors) {
    nlohmann::ordered_json e = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}, {"bytes", t.bytes},
                                {"pieces", t.pieces}};
    e["crc32"] = t.crc32 ? nlohmann::ordered_json(fmt::format("{:08x}", *t.crc32)) : nullptr;
    doc["tensors"].push_back(e);
  }
  return doc;
}

template <class T>
std::string or_unknown(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : "?";
}

void print_checkpoint(const checkpoint::CheckpointSummary& s) {
  fmt::print("{}: Torus checkpoint ({}), step {}, {} rank{}, ZeRO stage {}\n", s.path.string(),
             s.format.empty() ? "no training_state.json" : s.format, or_unknown(s.step), or_unknown(s.world_size),
             s.world_size == 1 ? "" : "s", or_unknown(s.zero_stage));
  fmt::print("  {}\n", verdict(s));
  if (!s.torus_version.empty()) fmt::print("  written by Torus {}\n", s.torus_version);
  fmt::print("  {} bytes on disk", s.file_bytes);
  if (!s.tensors.empty()) fmt::print("; model {} bytes, optimizer state {} bytes", s.model_bytes, s.optimizer_bytes);
  fmt::print("\n");
  if (!s.note.empty()) fmt::print("  {}\n", s.note);
  if (s.tensors.empty()) return;
  size_t width = 4;
  for (const auto& t : s.tensors) width = std::max(width, t.name.size());
  fmt::print("  {:<{}}  {:<5} {:<20} {:>14} {:>6}  {}\n", "name", width, "dtype", "shape", "bytes", "pieces", "crc32");
  for (const auto& t : s.tensors)
    fmt::print("  {:<{}}  {:<5} {:<20} {:>14} {:>6}  {}\n", t.name, width, t.dtype, shape_str(t.shape), t.bytes,
               t.pieces, t.crc32 ? fmt::format("{:08x}", *t.crc32) : "-");
}

void print_folder(const fs::path& folder, const std::vector<checkpoint::CheckpointSummary>& all,
                  const std::optional<fs::path>& latest) {
  fmt::print("{}: {} checkpoint{}\n", folder.string(), all.size(), all.size() == 1 ? "" : "s");
  for (const auto& s : all)
    fmt::print("  {:<18} step {:>8}  {}{}\n", s.path.filename().string(), or_unknown(s.step), verdict(s),
               latest && *latest == s.path ? "  <- latest intact" : "");
  if (!latest) fmt::print("  no intact checkpoint: resume=auto starts afresh, export has nothing to take\n");
}

}  // namespace

void inspect_directory(const fs::path& dir, bool as_json) {
  if (checkpoint::is_checkpoint_dir(dir)) {
    const checkpoint::CheckpointSummary s = checkpoint::summarize_checkpoint(dir);
    if (as_json) std::puts(to_json(s, true).dump(2).c_str());
    else print_checkpoint(s);
    return;
  }
  const std::optional<fs::path> folder = checkpoint::checkpoints_folder_of(dir);
  if (!folder)
    throw IOError(fmt::format("ckpt inspect: {}: neither a checkpoint nor a run directory (no checkpoints/ in it)",
                              dir.string()));
  std::vector<fs::path> dirs;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(*folder, error))
    if (entry.is_directory() && checkpoint::step_of_dir(entry.path()) >= 0) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());  // step_N names sort by step
  std::vector<checkpoint::CheckpointSummary> all;
  for (const fs::path& d : dirs) all.push_back(checkpoint::summarize_checkpoint(d, /*tensors=*/false));
  std::optional<fs::path> latest;  // as find_latest_checkpoint picks, without verifying twice
  for (const auto& s : all)
    if (s.intact) latest = s.path;
  if (!as_json) return print_folder(*folder, all, latest);
  nlohmann::ordered_json doc = {{"path", folder->string()}, {"checkpoints", nlohmann::ordered_json::array()}};
  for (const auto& s : all) doc["checkpoints"].push_back(to_json(s, false));
  doc["latest"] = latest ? nlohmann::ordered_json(latest->string()) : nullptr;
  std::puts(doc.dump(2).c_str());
}

}  // namespace torus::cli
