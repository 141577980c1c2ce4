// Locating a checkpoint's pieces in its mapped shards (see checkpoint_pieces.h). The index
// is untrusted: file names are checked before they are opened, every piece's key, dtype
// and element count against the shard's validated header.
#include "distributed/checkpoint/checkpoint_pieces.h"

#include <algorithm>

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "framework/io/durable_file.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;

uint64_t MappedTensor::bytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

DType dtype_of_name(const std::string& name, const std::string& what) {
  for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8})
    if (io::safetensors_dtype_name(d) == name) return d;
  throw IOError(fmt::format("{}: dtype '{}' is not one Torus writes", what, name));
}

nlohmann::ordered_json read_checkpoint_index(const fs::path& dir) {
  const fs::path file = dir / kIndexFile;
  if (!fs::exists(file) && fs::exists(dir / kHdf5CheckpointFile))
    throw IOError(fmt::format("{}: an HDF5-format checkpoint, which has no {} (its tensors are datasets of {})",
                              dir.string(), kIndexFile, kHdf5CheckpointFile));
  if (!fs::exists(file)) throw IOError(fmt::format("{}: missing", file.string()));
  nlohmann::ordered_json index;
  try {
    index = nlohmann::ordered_json::parse(io::read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  const auto* metadata = index.is_object() && index.contains("metadata") ? &index["metadata"] : nullptr;
  if (metadata == nullptr || !metadata->is_object() || metadata->value("format", "") != "torus-checkpoint-index")
    throw IOError(fmt::format("{}: not a Torus checkpoint index", file.string()));
  const int version = metadata->value("format_version", 0);
  if (version < 1 || version > kFormatVersion)
    throw IOError(fmt::format("{}: format version {}; this Torus ({}) reads versions 1 to {}", file.string(), version,
                              kTorusVersion, kFormatVersion));
  try {
    check_coverage(index, file.string());
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: {}", file.string(), e.what()));
  }
  return index;
}

MappedCheckpoint::MappedCheckpoint(const fs::path& dir) {
  const nlohmann::ordered_json index = read_checkpoint_index(dir);
  const std::string index_name = (dir / kIndexFile).string();
  std::map<std::string, std::map<std::string, const io::SafetensorsEntry*>> keys;  // file -> key -> entry
  try {
    for (const auto& [name, spec] : index["tensors"].items()) {
      MappedTensor tensor;
      tensor.name = name;
      tensor.dtype = dtype_of_name(spec.at("dtype").get<std::string>(), fmt::format("{}: '{}'", index_name, name));
      for (const auto& d : spec.at("shape")) tensor.shape.push_back(d.get<int64_t>());
      for (const auto& piece : spec.at("pieces")) {
        const std::string file = piece.at("file").get<std::string>(), key = piece.at("key").get<std::string>();
        if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
          throw IOError(fmt::format("{}: names the file '{}', which is not a plain file name", index_name, file));
        auto mapped = files_.find(file);
        if (mapped == files_.end()) {
          mapped = files_.emplace(file, io::map_safetensors((dir / file).string())).first;
          for (const io::SafetensorsEntry& e : mapped->second.index.entries) keys[file][e.name] = &e;
        }
        const auto found = keys[file].find(key);
        if (found == keys[file].end())
          throw IOError(fmt::format("{}: has no tensor '{}' (the index names it for '{}')", (dir / file).string(), key,
                                    name));
        const io::SafetensorsEntry* entry = found->second;
        const int64_t count = piece.at("count").get<int64_t>();
        if (entry->dtype != spec.at("dtype").get<std::string>() ||
            entry->end - entry->begin != static_cast<uint64_t>(count) * dtype_size(tensor.dtype))
          throw IOError(fmt::format("{}: '{}' is {} {}, the index says {} of {} elements", (dir / file).string(), key,
                                    entry->dtype, shape_str(entry->shape), spec.at("dtype").get<std::string>(),
                                    count));
        tensor.pieces.push_back({mapped->second.bytes_of(*entry), entry->end - entry->begin,
                                 piece.at("start").get<int64_t>(), count});
      }
      std::sort(tensor.pieces.begin(), tensor.pieces.end(),
                [](const MappedPiece& a, const MappedPiece& b) { return a.start < b.start; });
      tensors_.push_back(std::move(tensor));
    }
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: {}", index_name, e.what()));
  }
}

}  // namespace torus::checkpoint
