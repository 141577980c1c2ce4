// `torus ckpt inspect PATH [--json]`: every tensor's name, dtype, shape, byte size and
// CRC-32 of its bytes, and the file's metadata. Reads .safetensors files today; HDF5
// files and checkpoint directories come with the checkpoint issue.
#include "launcher/ckpt_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/io/durable_file.h"
#include "framework/io/safetensors.h"

namespace torus::cli {
namespace {

void inspect(const std::string& path, bool as_json) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension != ".safetensors")
    throw NotImplementedError(fmt::format(
        "ckpt inspect: {}: only .safetensors files can be inspected so far (HDF5 files and "
        "checkpoint directories are not supported yet)", path));
  // Any valid file is listed, including dtypes Torus cannot compute in.
  const io::MappedSafetensors file = io::map_safetensors(path);
  const auto& entries = file.index.entries;
  auto crc_of = [&](const io::SafetensorsEntry& e) {
    return fmt::format("{:08x}", io::crc32_of(file.bytes_of(e), e.end - e.begin));
  };
  if (as_json) {
    nlohmann::ordered_json doc = {{"file", path}, {"format", "safetensors"}, {"metadata", file.index.metadata}};
    doc["tensors"] = nlohmann::ordered_json::array();
    for (const io::SafetensorsEntry& e : entries)
      doc["tensors"].push_back({{"name", e.name},
                                {"dtype", e.dtype},
                                {"shape", e.shape},
                                {"bytes", e.end - e.begin},
                                {"crc32", crc_of(e)}});
    std::puts(doc.dump(2).c_str());
    return;
  }
  uint64_t total = 0;
  size_t width = 4;
  for (const io::SafetensorsEntry& e : entries) width = std::max(width, e.name.size());
  fmt::print("{}: safetensors, {} tensors\n", path, entries.size());
  for (const auto& [key, value] : file.index.metadata) fmt::print("  metadata {} = {}\n", key, value);
  fmt::print("  {:<{}}  {:<7} {:<20} {:>14}  {}\n", "name", width, "dtype", "shape", "bytes", "crc32");
  for (const io::SafetensorsEntry& e : entries) {
    fmt::print("  {:<{}}  {:<7} {:<20} {:>14}  {}\n", e.name, width, e.dtype, shape_str(e.shape), e.end - e.begin,
               crc_of(e));
    total += e.end - e.begin;
  }
  fmt::print("  total {} bytes\n", total);
}

}  // namespace

void add_ckpt_command(CLI::App& app) {
  CLI::App* ckpt = app.add_subcommand("ckpt", "Inspect checkpoint and weight files");
  ckpt->require_subcommand(1);
  CLI::App* inspect_cmd = ckpt->add_subcommand("inspect", "List the tensors of a .safetensors file");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  inspect_cmd->add_option("PATH", *path, "a .safetensors file")->required();
  inspect_cmd->add_flag("--json", *as_json, "print one JSON document");
  inspect_cmd->callback([path, as_json] { inspect(*path, *as_json); });
}

}  // namespace torus::cli
