// Checking and reading a checkpoint directory (see checkpoint.h). Everything in it is
// untrusted until checked: the manifest's checksums before any file is parsed, file
// names before they are opened, the pieces' coverage before a tensor is assembled.
#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/checkpoint/checkpoint_hdf5.h"
#include "framework/io/durable_file.h"
#include "framework/io/safetensors.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

nlohmann::ordered_json read_json(const fs::path& file) {
  if (!fs::exists(file)) throw IOError(fmt::format("{}: missing", file.string()));
  try {
    return nlohmann::ordered_json::parse(io::read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
}

// A file named by the manifest or the index: a plain name inside the directory.
fs::path member(const fs::path& dir, const std::string& name, const std::string& named_in) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw IOError(fmt::format("{}: names the file '{}', which is not a plain file name", named_in, name));
  return dir / name;
}

void check_format(const nlohmann::ordered_json& doc, const std::string& expected, const fs::path& file) {
  if (!doc.is_object() || doc.value("format", "") != expected)
    throw IOError(fmt::format("{}: not a Torus {} (\"format\" is not \"{}\")", file.string(), expected, expected));
  const int version = doc.value("format_version", 0);
  if (version < 1 || version > kFormatVersion)
    throw IOError(fmt::format("{}: format version {} (written by Torus {}); this Torus ({}) reads versions 1 to {}",
                              file.string(), version, doc.value("torus_version", "?"), kTorusVersion, kFormatVersion));
}

TrainingState parse_state(const nlohmann::ordered_json& s, const fs::path& file) {
  check_format(s, "torus-checkpoint", file);
  try {
    TrainingState state;
    state.step = s.at("step").get<int64_t>();
    state.position = {s.at("data_position").at("epoch").get<int64_t>(), s.at("data_position").at("batch").get<int64_t>()};
    state.dropout_offset = s.at("dropout_offset").get<uint64_t>();
    state.optimizer_steps = s.at("optimizer_steps").get<int64_t>();
    state.world = s.at("world_size").get<int>();
    state.zero_stage = s.at("zero_stage").get<int>();
    return state;
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: {}", file.string(), e.what()));
  }
}

// The format of a verified checkpoint, by the files its manifest lists.
CheckpointFormat listed_format(const fs::path& dir) {
  return read_json(dir / kManifestFile)["files"].contains(kHdf5File) ? CheckpointFormat::hdf5
                                                                     : CheckpointFormat::safetensors;
}

// Every logical tensor, assembled from the pieces the index names.
NamedTensors read_shards(const fs::path& dir) {
  const fs::path index_file = dir / kIndexFile;
  const nlohmann::ordered_json index = read_json(index_file);
  if (!index.contains("metadata")) throw IOError(fmt::format("{}: no \"metadata\"", index_file.string()));
  check_format(index["metadata"], "torus-checkpoint-index", index_file);
  NamedTensors out;
  try {
    check_coverage(index, index_file.string());
    std::map<std::string, std::map<std::string, Tensor>> files;  // file -> key -> piece
    for (const auto& [name, tensor] : index["tensors"].items()) {
      Shape shape;
      for (const auto& d : tensor.at("shape")) shape.push_back(d.get<int64_t>());
      Tensor whole;
      for (const auto& piece : tensor.at("pieces")) {
        const std::string file = piece.at("file").get<std::string>();
        if (!files.count(file)) {
          auto& keys = files[file];
          for (auto& [key, t] : io::load_safetensors(member(dir, file, index_file.string()).string()).tensors) keys[key] = t;
        }
        const auto found = files[file].find(piece.at("key").get<std::string>());
        if (found == files[file].end())
          throw IOError(fmt::format("{}: has no tensor '{}' (the index names it for '{}')", (dir / file).string(),
                                    piece.at("key").get<std::string>(), name));
        const Tensor& values = found->second;
        const int64_t start = piece.at("start").get<int64_t>(), count = piece.at("count").get<int64_t>();
        if (values.numel() != count || (whole.defined() && values.dtype() != whole.dtype()) ||
            io::safetensors_dtype_name(values.dtype()) != tensor.at("dtype").get<std::string>())
          throw IOError(fmt::format("{}: '{}' is {} {}, the index says {} of {} elements", (dir / file).string(),
                                    found->first, io::safetensors_dtype_name(values.dtype()), values.shape_str(),
                                    tensor.at("dtype").get<std::string>(), count));
        if (tensor.at("pieces").size() == 1) {  // the whole tensor: a view of the mapped file, no copy
          whole = values.reshape(shape);
          break;
        }
        if (!whole.defined()) whole = Tensor::empty(shape, values.dtype());
        std::memcpy(static_cast<char*>(whole.raw_data()) + start * whole.element_size(), values.raw_data(),
                    values.nbytes());
      }
      if (!whole.defined()) whole = Tensor::zeros(shape);  // no elements at all
      out.emplace_back(name, whole);
    }
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: {}", index_file.string(), e.what()));
  }
  return out;
}

}  // namespace

void verify_checkpoint(const fs::path& dir) {
  const fs::path manifest_file = dir / kManifestFile;
  if (!fs::exists(manifest_file))
    throw IOError(fmt::format("{}: not committed (no {}: the save did not finish)", dir.string(), kManifestFile));
  const nlohmann::ordered_json manifest = read_json(manifest_file);
  check_format(manifest, "torus-checkpoint-manifest", manifest_file);
  if (!manifest.contains("files") || !manifest["files"].is_object())
    throw IOError(fmt::format("{}: no \"files\" object", manifest_file.string()));
  for (const auto& [name, entry] : manifest["files"].items()) {
    const fs::path file = member(dir, name, manifest_file.string());
    if (!fs::exists(file)) throw IOError(fmt::format("{}: missing (listed in {})", file.string(), kManifestFile));
    const auto bytes = static_cast<int64_t>(fs::file_size(file));
    if (bytes != entry.value("bytes", int64_t{-1}))
      throw IOError(fmt::format("{}: {} bytes, the manifest says {} (truncated or replaced)", file.string(), bytes,
                                entry.value("bytes", int64_t{-1})));
    const std::string crc = fmt::format("{:08x}", io::crc32_of_file(file));
    if (crc != entry.value("crc32", std::string()))
      throw IOError(fmt::format("{}: checksum mismatch (CRC-32 {}, the manifest says {}): the file is corrupt",
                                file.string(), crc, entry.value("crc32", std::string())));
  }
  if (!manifest["files"].contains(kStateFile))
    throw IOError(fmt::format("{}: does not list {}", manifest_file.string(), kStateFile));
  if (manifest["files"].contains(kIndexFile) == manifest["files"].contains(kHdf5File))
    throw IOError(fmt::format("{}: lists {} of {} and {} (a checkpoint has one)", manifest_file.string(),
                              manifest["files"].contains(kIndexFile) ? "both" : "neither", kIndexFile, kHdf5File));
}

LoadedCheckpoint load_checkpoint(const fs::path& dir) {
  verify_checkpoint(dir);
  LoadedCheckpoint out;
  out.path = dir;
  out.state = parse_state(read_json(dir / kStateFile), dir / kStateFile);
  if (fs::exists(dir / kConfigFile)) out.config_yaml = io::read_file(dir / kConfigFile);
  out.format = listed_format(dir);
  const NamedTensors tensors = out.format == CheckpointFormat::hdf5
                                   ? read_hdf5_checkpoint(dir / kHdf5File, out.state.step)
                                   : read_shards(dir);
  for (const auto& [name, whole] : tensors) {
    if (name.rfind("model.", 0) == 0) out.model.emplace_back(name.substr(6), whole);
    else if (name.rfind("optimizer.", 0) == 0) out.optimizer.emplace_back(name.substr(10), whole);
    else throw IOError(fmt::format("{}: tensor '{}' is neither model. nor optimizer.", dir.string(), name));
  }
  return out;
}

std::optional<fs::path> find_latest_checkpoint(const fs::path& checkpoints_dir, std::vector<std::string>& skipped) {
  auto committed = committed_checkpoints(checkpoints_dir);
  std::sort(committed.rbegin(), committed.rend());
  for (const auto& [step, dir] : committed) {
    try {
      verify_checkpoint(dir);
      return dir;
    } catch (const IOError& e) {
      skipped.push_back(e.what());
    }
  }
  return std::nullopt;
}

}  // namespace torus::checkpoint
