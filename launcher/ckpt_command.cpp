// `torus ckpt inspect PATH [--json]`: for a .safetensors file every tensor's name, dtype,
// shape, byte size and CRC-32 of its bytes, and the file's metadata; for an .h5 file the
// same of every dataset (its path as the name) and the simple root attributes as the
// metadata (distributed/checkpoint/checkpoint_hdf5_datasets.h); for directories see
// ckpt_inspect_dir.h. `torus ckpt export RUN_DIR_OR_CKPT OUT.safetensors`: see
// distributed/checkpoint/checkpoint_export.h. `torus ckpt convert IN OUT`: a checkpoint in the
// other format (distributed/checkpoint/checkpoint_convert.h).
#include "launcher/ckpt_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint_convert.h"
#include "distributed/checkpoint/checkpoint_export.h"
#include "distributed/checkpoint/checkpoint_hdf5_datasets.h"
#include "distributed/checkpoint/checkpoint_locate.h"
#include "framework/io/durable_file.h"
#include "framework/io/safetensors.h"
#include "launcher/ckpt_inspect_dir.h"

namespace torus::cli {
namespace {

// "runs/x/" names runs/x: the checks on a directory's own name need its last component.
std::filesystem::path as_given(const std::string& path) {
  std::filesystem::path p(path);
  return p.has_filename() || !p.has_parent_path() || p.parent_path() == p.root_path() ? p : p.parent_path();
}

// One file's listing, whichever format: safetensors' tensors or an HDF5 file's datasets.
struct FileTensor {
  std::string name, dtype;
  Shape shape;
  uint64_t bytes = 0;
  std::optional<uint32_t> crc32;  // none for data without fixed bytes (HDF5 variable-length)
};

struct FileListing {
  std::string format;  // "safetensors", "hdf5"
  io::Metadata metadata;  // __metadata__, or the simple root attributes
  std::vector<FileTensor> tensors;
};

FileListing list_safetensors(const std::string& path) {
  // Any valid file is listed, including dtypes Torus cannot compute in.
  const io::MappedSafetensors file = io::map_safetensors(path);
  FileListing out{"safetensors", file.index.metadata, {}};
  for (const io::SafetensorsEntry& e : file.index.entries)
    out.tensors.push_back({e.name, e.dtype, e.shape, e.end - e.begin, io::crc32_of(file.bytes_of(e), e.end - e.begin)});
  return out;
}

FileListing list_hdf5(const std::string& path) {
  const checkpoint::Hdf5DatasetFile file(path);
  FileListing out{"hdf5", file.simple_root_attributes(), {}};
  for (const checkpoint::Hdf5Dataset& d : file.datasets())
    out.tensors.push_back({d.name, d.dtype, d.shape, d.bytes,
                           d.readable ? std::optional<uint32_t>(file.crc32(d.name)) : std::nullopt});
  return out;
}

std::string crc_text(const std::optional<uint32_t>& crc) { return crc ? fmt::format("{:08x}", *crc) : "-"; }

void inspect(const std::string& path, bool as_json) {
  if (std::filesystem::is_directory(path)) return inspect_directory(as_given(path), as_json);
  if (!std::filesystem::exists(path)) throw IOError(fmt::format("ckpt inspect: {}: no such file or directory", path));
  const std::string extension = std::filesystem::path(path).extension().string();
  const bool hdf5 = extension == ".h5" || extension == ".hdf5";
  if (!hdf5 && extension != ".safetensors")
    throw IOError(fmt::format("ckpt inspect: {}: not a .safetensors or .h5 file, a checkpoint directory or a run "
                              "directory", path));
  const FileListing listing = hdf5 ? list_hdf5(path) : list_safetensors(path);
  if (as_json) {
    nlohmann::ordered_json doc = {{"file", path}, {"format", listing.format}, {"metadata", listing.metadata}};
    doc["tensors"] = nlohmann::ordered_json::array();
    for (const FileTensor& t : listing.tensors)
      doc["tensors"].push_back({{"name", t.name},
                                {"dtype", t.dtype},
                                {"shape", t.shape},
                                {"bytes", t.bytes},
                                {"crc32", t.crc32 ? nlohmann::ordered_json(crc_text(t.crc32)) : nullptr}});
    std::puts(doc.dump(2).c_str());
    return;
  }
  uint64_t total = 0;
  size_t width = 4;
  for (const FileTensor& t : listing.tensors) width = std::max(width, t.name.size());
  fmt::print("{}: {}, {} tensors\n", path, listing.format, listing.tensors.size());
  for (const auto& [key, value] : listing.metadata) {
    const auto lines = std::count(value.begin(), value.end(), '\n');
    if (lines > 1) fmt::print("  metadata {} = ({} lines; --json shows them)\n", key, lines);  // an export's config
    else fmt::print("  metadata {} = {}\n", key, value);
  }
  fmt::print("  {:<{}}  {:<7} {:<20} {:>14}  {}\n", "name", width, "dtype", "shape", "bytes", "crc32");
  for (const FileTensor& t : listing.tensors) {
    fmt::print("  {:<{}}  {:<7} {:<20} {:>14}  {}\n", t.name, width, t.dtype, shape_str(t.shape), t.bytes,
               crc_text(t.crc32));
    total += t.bytes;
  }
  fmt::print("  total {} bytes\n", total);
}

void export_weights(const std::string& source, const std::string& out, double max_shard_mb) {
  std::vector<std::string> skipped;
  const std::filesystem::path dir = checkpoint::resolve_checkpoint(as_given(source), skipped);
  for (const std::string& why : skipped) fmt::print(stderr, "torus: ckpt export: skipped {}\n", why);
  const checkpoint::ExportResult r = checkpoint::export_checkpoint(dir, out, max_shard_mb);
  fmt::print("{}: step {}, {} tensors, {} bytes -> ", r.checkpoint.string(), r.step, r.tensors, r.bytes);
  if (r.files.size() == 1) fmt::print("{}\n", r.files[0].string());
  else fmt::print("{} shards and {}\n", r.files.size() - 1, r.files.back().string());
}

}  // namespace

void add_ckpt_command(CLI::App& app) {
  CLI::App* ckpt = app.add_subcommand("ckpt", "Inspect, export and convert checkpoints and weight files");
  ckpt->require_subcommand(1);
  CLI::App* inspect_cmd =
      ckpt->add_subcommand("inspect", "List the tensors of a .safetensors or .h5 file or a checkpoint, or a run's checkpoints");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  inspect_cmd->add_option("PATH", *path, "a .safetensors or .h5 file, a checkpoint directory or a run directory")->required();
  inspect_cmd->add_flag("--json", *as_json, "print one JSON document");
  inspect_cmd->callback([path, as_json] { inspect(*path, *as_json); });

  CLI::App* export_cmd = ckpt->add_subcommand(
      "export", "Consolidated model weights of a checkpoint (a run's newest intact one) as safetensors for serving");
  auto source = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto max_shard_mb = std::make_shared<double>(checkpoint::kDefaultMaxShardMb);
  export_cmd->add_option("RUN_DIR_OR_CKPT", *source, "a run directory or a checkpoint directory")->required();
  export_cmd->add_option("OUT", *out, "the .safetensors file to write")->required();
  export_cmd->add_option("--max-shard-mb", *max_shard_mb,
                         "above this many MiB, write <stem>-0000K-of-0000N.safetensors shards and OUT.index.json")
      ->capture_default_str();
  export_cmd->callback([=] { export_weights(*source, *out, *max_shard_mb); });

  CLI::App* convert_cmd = ckpt->add_subcommand(
      "convert", "Rewrite a checkpoint directory in the other format (safetensors shards <-> one HDF5 file)");
  auto in_dir = std::make_shared<std::string>();
  auto out_dir = std::make_shared<std::string>();
  convert_cmd->add_option("IN", *in_dir, "a committed checkpoint directory")->required();
  convert_cmd->add_option("OUT", *out_dir, "the checkpoint directory to create (must not exist)")->required();
  convert_cmd->callback([in_dir, out_dir] {
    checkpoint::convert_checkpoint(*in_dir, *out_dir);
    fmt::print("{} -> {}\n", *in_dir, *out_dir);
  });
}

}  // namespace torus::cli
