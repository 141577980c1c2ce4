// Consolidated export of a checkpoint's model weights (see checkpoint_export.h).
#include "distributed/checkpoint/checkpoint_export.h"

#include <cctype>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/checkpoint/checkpoint_hdf5_datasets.h"
#include "distributed/checkpoint/checkpoint_pieces.h"
#include "framework/io/durable_file.h"
#include "framework/io/safetensors_stream.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kModelPrefix = "model.";

int64_t step_of(const fs::path& dir) {
  const fs::path file = dir / kStateFile;
  try {
    return nlohmann::json::parse(io::read_file(file)).at("step").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: {}", file.string(), e.what()));
  }
}

// "model-00002-of-00003.safetensors" for OUT "model.safetensors".
std::string shard_name(const std::string& stem, size_t shard, size_t shards) {
  return fmt::format("{}-{:05d}-of-{:05d}.safetensors", stem, shard + 1, shards);
}

bool is_shard_name(const std::string& name, const std::string& stem) {
  const std::string pattern = shard_name(stem, 0, 0);  // same length, digits in the same places
  if (name.size() != pattern.size() || name.compare(0, stem.size() + 1, stem + "-") != 0) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(pattern[i])) ? !std::isdigit(static_cast<unsigned char>(name[i]))
                                                             : name[i] != pattern[i])
      return false;
  return true;
}

// The shard files an earlier export's index at `index_file` names (none if unreadable).
std::set<std::string> earlier_shards(const fs::path& index_file, const std::string& stem) {
  std::set<std::string> out;
  if (!fs::exists(index_file)) return out;
  try {
    const auto index = nlohmann::json::parse(io::read_file(index_file));
    for (const auto& [name, file] : index.at("weight_map").items())
      if (file.is_string() && is_shard_name(file.get<std::string>(), stem)) out.insert(file.get<std::string>());
  } catch (const std::exception&) {
    // Not an index we wrote: leave whatever it names alone.
  }
  return out;
}

void remove_file(const fs::path& path) {
  std::error_code error;
  if (!fs::remove(path, error) && error)
    throw IOError(fmt::format("{}: cannot remove the earlier export: {}", path.string(), error.message()));
}

// One model tensor to export, whichever format holds it: its spec and how its bytes reach
// the writer (a safetensors checkpoint's mapped pieces, or checkpoint.h5 block by block).
struct ExportTensor {
  std::string name;  // "model.<state_dict name>"
  DType dtype = DType::f32;
  Shape shape;
  uint64_t bytes = 0;
  std::function<void(io::SafetensorsStreamWriter&)> write;
};

void write_file(const fs::path& path, const std::vector<const ExportTensor*>& tensors, const io::Metadata& metadata) {
  std::vector<io::SafetensorsSpec> specs;
  for (const ExportTensor* t : tensors) specs.push_back({t->name.substr(kModelPrefix.size()), t->dtype, t->shape});
  io::SafetensorsStreamWriter writer(path, specs, metadata);
  for (const ExportTensor* t : tensors) t->write(writer);
  writer.commit();
}

bool is_model_tensor(const std::string& name) { return name.compare(0, kModelPrefix.size(), kModelPrefix) == 0; }

std::vector<ExportTensor> mapped_model(const MappedCheckpoint& mapped) {
  std::vector<ExportTensor> out;
  for (const MappedTensor& t : mapped.tensors())
    if (is_model_tensor(t.name))
      out.push_back({t.name, t.dtype, t.shape, t.bytes(), [&t](io::SafetensorsStreamWriter& writer) {
                       for (const MappedPiece& piece : t.pieces) writer.append(piece.bytes, piece.size);
                     }});
  return out;
}

// checkpoint.h5's model datasets in name order, which is the index's order (both sort the
// names bytewise), so both formats export the same bytes. One block in memory at a time.
std::vector<ExportTensor> hdf5_model(const Hdf5DatasetFile& file, const fs::path& path, int64_t step) {
  const auto attributes = file.simple_root_attributes();
  const auto saved = attributes.find("step");
  if (saved == attributes.end() || saved->second != std::to_string(step))
    throw IOError(fmt::format("{}: holds step {}, but {} says step {}", path.string(),
                              saved == attributes.end() ? "?" : saved->second, kStateFile, step));
  std::vector<ExportTensor> out;
  for (const Hdf5Dataset& d : file.datasets()) {
    if (!is_model_tensor(d.name)) continue;
    if (!d.torus_dtype || !d.readable)
      throw IOError(fmt::format("{}: dataset '{}' holds values of a type Torus has no dtype for", path.string(), d.name));
    const std::string name = d.name;
    out.push_back({d.name, *d.torus_dtype, d.shape, d.bytes, [&file, name](io::SafetensorsStreamWriter& writer) {
                     file.read(name, [&](const uint8_t* bytes, uint64_t size) { writer.append(bytes, size); });
                   }});
  }
  return out;
}

}  // namespace

ExportResult export_checkpoint(const fs::path& checkpoint, const fs::path& out, double max_shard_mb) {
  TORUS_CHECK(out.extension() == ".safetensors", "ckpt export: {}: the output must be a .safetensors file",
              out.string());
  TORUS_CHECK(max_shard_mb > 0, "ckpt export: --max-shard-mb must be positive, not {}", max_shard_mb);
  const std::string name = checkpoint.filename().string();
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
    throw IOError(fmt::format("{}: not committed (still named .tmp: the save did not finish)", checkpoint.string()));
  verify_checkpoint(checkpoint);
  ExportResult result;
  result.checkpoint = checkpoint;
  result.step = step_of(checkpoint);
  io::Metadata metadata = {{"format", "pt"}, {"step", std::to_string(result.step)}, {"torus_version", kTorusVersion}};
  if (fs::exists(checkpoint / kConfigFile)) metadata["torus_config"] = io::read_file(checkpoint / kConfigFile);

  // The HDF5 format has checkpoint.h5 where the other has the index and the shards.
  const bool hdf5 = !fs::exists(checkpoint / kIndexFile) && fs::exists(checkpoint / kHdf5File);
  std::optional<MappedCheckpoint> mapped;
  std::optional<Hdf5DatasetFile> h5_file;
  std::vector<ExportTensor> model_tensors;
  if (hdf5) {
    h5_file.emplace(checkpoint / kHdf5File);
    model_tensors = hdf5_model(*h5_file, checkpoint / kHdf5File, result.step);
  } else {
    mapped.emplace(checkpoint);
    model_tensors = mapped_model(*mapped);
  }
  std::vector<const ExportTensor*> model;
  for (const ExportTensor& t : model_tensors) {
    model.push_back(&t);
    result.bytes += t.bytes;
  }
  if (model.empty())
    throw IOError(fmt::format("{}: holds no model tensors", (checkpoint / (hdf5 ? kHdf5File : kIndexFile)).string()));
  result.tensors = model.size();

  // Greedy in index order, as Hugging Face shards: a tensor larger than the limit alone.
  const auto limit = static_cast<uint64_t>(max_shard_mb * 1024 * 1024);
  std::vector<std::vector<const ExportTensor*>> shards(1);
  uint64_t in_shard = 0;
  for (const ExportTensor* t : model) {
    if (in_shard > 0 && in_shard + t->bytes > limit) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(t);
    in_shard += t->bytes;
  }

  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  const std::string stem = out.stem().string();
  const fs::path index_file = out.string() + ".index.json";
  std::set<std::string> stale = earlier_shards(index_file, stem);
  if (shards.size() == 1) {
    write_file(out, shards[0], metadata);
    result.files.push_back(out);
    if (fs::exists(index_file)) remove_file(index_file);  // an earlier sharded export of the same name
  } else {
    nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
    for (size_t s = 0; s < shards.size(); ++s) {
      const std::string name = shard_name(stem, s, shards.size());
      write_file(dir / name, shards[s], metadata);
      result.files.push_back(dir / name);
      stale.erase(name);
      for (const ExportTensor* t : shards[s]) weight_map[t->name.substr(kModelPrefix.size())] = name;
    }
    const nlohmann::ordered_json index = {{"metadata", {{"total_size", result.bytes}}}, {"weight_map", weight_map}};
    io::write_file_durably(index_file, index.dump(2) + "\n");
    result.files.push_back(index_file);
    if (fs::is_regular_file(out)) remove_file(out);  // an earlier single-file export, which loaders would prefer
  }
  for (const std::string& name : stale) remove_file(dir / name);
  return result;
}

}  // namespace torus::checkpoint
