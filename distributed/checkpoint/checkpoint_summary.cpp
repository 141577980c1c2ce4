// Describing a checkpoint directory (see checkpoint_summary.h).
#include "distributed/checkpoint/checkpoint_summary.h"

#include <zlib.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/checkpoint/checkpoint_hdf5_datasets.h"
#include "distributed/checkpoint/checkpoint_locate.h"
#include "distributed/checkpoint/checkpoint_pieces.h"
#include "framework/io/durable_file.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

// CRC-32 of a logical tensor: its pieces' bytes in order, as one buffer would give.
uint32_t crc_of(const MappedTensor& t) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const MappedPiece& piece : t.pieces) {
    const uint8_t* p = piece.bytes;
    for (uint64_t left = piece.size; left > 0;) {  // crc32 takes a 32-bit length
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(left, 1U << 30));
      crc = crc32(crc, p, chunk);
      p += chunk;
      left -= chunk;
    }
  }
  return static_cast<uint32_t>(crc);
}

void add_problem(CheckpointSummary& s, const std::string& problem) {
  if (s.problem.empty()) s.problem = problem;
}

void read_state(CheckpointSummary& s) {
  const fs::path file = s.path / kStateFile;
  if (!fs::exists(file)) return;
  try {
    const auto state = nlohmann::json::parse(io::read_file(file));
    s.format = fmt::format("{} v{}", state.value("format", "?"), state.value("format_version", 0));
    s.torus_version = state.value("torus_version", "");
    s.step = state.at("step").get<int64_t>();
    s.world_size = state.at("world_size").get<int>();
    s.zero_stage = state.at("zero_stage").get<int>();
  } catch (const std::exception& e) {
    add_problem(s, fmt::format("{}: unreadable: {}", file.string(), e.what()));
  }
}

// checkpoint.h5's datasets, one piece each; their CRC-32s only when the file is intact.
void read_hdf5_tensors(CheckpointSummary& s) {
  const Hdf5DatasetFile file(s.path / kHdf5File);
  for (const Hdf5Dataset& d : file.datasets())
    s.tensors.push_back({d.name, d.dtype, d.shape, d.bytes, 1,
                         s.intact && d.readable ? std::optional<uint32_t>(file.crc32(d.name)) : std::nullopt});
}

void read_tensors(CheckpointSummary& s) {
  try {
    if (!fs::exists(s.path / kIndexFile) && fs::exists(s.path / kHdf5File)) {
      read_hdf5_tensors(s);
    } else if (s.intact) {  // the pieces are safe to map and checksum
      const MappedCheckpoint mapped(s.path);
      for (const MappedTensor& t : mapped.tensors())
        s.tensors.push_back({t.name, io::safetensors_dtype_name(t.dtype), t.shape, t.bytes(), t.pieces.size(), crc_of(t)});
    } else {
      const nlohmann::ordered_json index = read_checkpoint_index(s.path);
      for (const auto& [name, spec] : index["tensors"].items()) {
        TensorSummary t{name, spec.at("dtype").get<std::string>(), {}, 0, spec.at("pieces").size(), std::nullopt};
        t.bytes = dtype_size(dtype_of_name(t.dtype, name));
        for (const auto& d : spec.at("shape")) {
          t.shape.push_back(d.get<int64_t>());
          t.bytes *= static_cast<uint64_t>(t.shape.back());
        }
        s.tensors.push_back(std::move(t));
      }
    }
  } catch (const NotImplementedError& e) {
    s.note = e.what();
    return;
  } catch (const std::exception& e) {
    s.intact = false;
    add_problem(s, e.what());
    return;
  }
  for (const TensorSummary& t : s.tensors)
    (t.name.rfind("model.", 0) == 0 ? s.model_bytes : s.optimizer_bytes) += t.bytes;
}

}  // namespace

CheckpointSummary summarize_checkpoint(const fs::path& dir, bool tensors) {
  CheckpointSummary s;
  s.path = dir;
  if (const int64_t step = step_of_dir(dir); step >= 0) s.step = step;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.is_regular_file()) s.file_bytes += entry.file_size();
  // The rename from step_N.tmp is the commit; the manifest is written just before it.
  const std::string name = dir.filename().string();
  const bool renamed = name.size() < 4 || name.compare(name.size() - 4, 4, ".tmp") != 0;
  s.committed = renamed && fs::exists(dir / kManifestFile);
  if (!renamed) {
    s.problem = "still named .tmp: the save did not finish";
  } else if (!s.committed) {
    s.problem = fmt::format("no {}: the save did not finish", kManifestFile);
  } else {
    try {
      verify_checkpoint(dir);
      s.intact = true;
    } catch (const std::exception& e) {
      s.problem = e.what();
    }
  }
  read_state(s);
  if (tensors && (s.committed || fs::exists(dir / kIndexFile) || fs::exists(dir / kHdf5File))) read_tensors(s);
  return s;
}

}  // namespace torus::checkpoint
