// Checking and reading a checkpoint directory (see checkpoint.h). Everything in it is
// untrusted until checked: the manifest's checksums before any file is parsed, file
// names before they are opened, the pieces' coverage before a tensor is assembled.
// A job's ranks share the checksumming: each file is read by one rank of each node.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>

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

// One file the manifest lists, as it lists it.
struct ListedFile {
  std::string name;
  int64_t bytes = -1;
  std::string crc32;
};

struct Manifest {
  std::vector<ListedFile> files;
  std::string contents_problem;  // what the list lacks or has twice; empty when nothing
};

Manifest read_manifest(const fs::path& dir) {
  const fs::path manifest_file = dir / kManifestFile;
  if (!fs::exists(manifest_file))
    throw IOError(fmt::format("{}: not committed (no {}: the save did not finish)", dir.string(), kManifestFile));
  const nlohmann::ordered_json manifest = read_json(manifest_file);
  check_format(manifest, "torus-checkpoint-manifest", manifest_file);
  if (!manifest.contains("files") || !manifest["files"].is_object())
    throw IOError(fmt::format("{}: no \"files\" object", manifest_file.string()));
  Manifest out;
  try {
    for (const auto& [name, entry] : manifest["files"].items())
      out.files.push_back({name, entry.value("bytes", int64_t{-1}), entry.value("crc32", std::string())});
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("{}: {}", manifest_file.string(), e.what()));
  }
  const auto& files = manifest["files"];
  if (!files.contains(kStateFile))
    out.contents_problem = fmt::format("{}: does not list {}", manifest_file.string(), kStateFile);
  else if (files.contains(kIndexFile) == files.contains(kHdf5File))
    out.contents_problem = fmt::format("{}: lists {} of {} and {} (a checkpoint has one)", manifest_file.string(),
                                       files.contains(kIndexFile) ? "both" : "neither", kIndexFile, kHdf5File);
  return out;
}

// Concurrent read streams per node when checksumming (a rank reads each of its files in
// kReadStreamsPerNode / local ranks parts at once). Measured on this machine's virtual disk,
// 1 GiB cold: one buffered stream 0.7-6 s (mostly 2-3 s), two 0.75-0.9 s, three 0.73-0.88,
// four 1.3-1.9.
constexpr int kReadStreamsPerNode = 2;

// Throws an IOError naming the file when it is missing, of another size or checksum.
void check_listed_file(const fs::path& dir, const ListedFile& listed, int streams) {
  const fs::path file = member(dir, listed.name, (dir / kManifestFile).string());
  if (!fs::exists(file)) throw IOError(fmt::format("{}: missing (listed in {})", file.string(), kManifestFile));
  const auto bytes = static_cast<int64_t>(fs::file_size(file));
  if (bytes != listed.bytes)
    throw IOError(fmt::format("{}: {} bytes, the manifest says {} (truncated or replaced)", file.string(), bytes,
                              listed.bytes));
  const std::string crc = fmt::format("{:08x}", io::crc32_of_file(file, streams));
  if (crc != listed.crc32)
    throw IOError(fmt::format("{}: checksum mismatch (CRC-32 {}, the manifest says {}): the file is corrupt",
                              file.string(), crc, listed.crc32));
}

// The files (indices into `files`, ascending) that local rank `local_rank` of `local_size`
// checks: by bytes, the largest first to the rank with the fewest so far. Every rank
// computes the same split from the same manifest.
std::vector<size_t> files_to_check(const std::vector<ListedFile>& files, int local_rank, int local_size) {
  std::vector<size_t> by_size(files.size());
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](size_t a, size_t b) { return files[a].bytes > files[b].bytes; });
  std::vector<int64_t> load(static_cast<size_t>(local_size), 0);
  std::vector<size_t> mine;
  for (const size_t i : by_size) {
    const auto least = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[least] += std::max<int64_t>(files[i].bytes, 1);
    if (static_cast<int>(least) == local_rank) mine.push_back(i);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

// The first problem verification meets, placed where one process checking the manifest
// (order -1), then its files in its order (order i), then what it lists (order: the number
// of files) meets it: the lowest order over all ranks is what each rank reports.
struct Finding {
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  int64_t order = kNone;
  std::string message;
};

// The lowest-order finding of any rank (the lowest rank's on a tie), on every rank.
Finding first_finding_of_all(comm::ProcessGroup& group, const Finding& mine) {
  constexpr int64_t kRecord = 4096;  // the order, then the message (truncated), NUL-terminated
  const Tensor record = Tensor::zeros({kRecord}, DType::u8);
  auto* bytes = static_cast<char*>(record.raw_data());
  std::memcpy(bytes, &mine.order, sizeof mine.order);
  mine.message.copy(bytes + sizeof mine.order, kRecord - sizeof mine.order - 1);
  const Tensor all = Tensor::zeros({kRecord * group.size()}, DType::u8);
  group.all_gather(record, all)->wait();
  Finding first;
  for (int r = 0; r < group.size(); ++r) {
    const char* theirs = static_cast<const char*>(all.raw_data()) + r * kRecord;
    int64_t order = Finding::kNone;
    std::memcpy(&order, theirs, sizeof order);
    if (order < first.order) first = {order, std::string(theirs + sizeof order)};
  }
  return first;
}

// verify_checkpoint by one process (group null) or split over a group's ranks.
void verify(const fs::path& dir, comm::ProcessGroup* group) {
  Finding first;
  auto note = [&first](int64_t order, const char* what) {
    if (order < first.order) first = {order, what};
  };
  try {
    const Manifest manifest = read_manifest(dir);
    const int local_size = group != nullptr ? std::max(group->local_size(), 1) : 1;
    const int local_rank = group != nullptr && group->local_size() >= 1 ? group->local_rank() : 0;
    const int streams = std::max(1, kReadStreamsPerNode / local_size);
    for (const size_t i : files_to_check(manifest.files, local_rank, local_size)) {
      try {
        check_listed_file(dir, manifest.files[i], streams);
      } catch (const std::exception& e) {  // IOError, or std::filesystem's own
        note(static_cast<int64_t>(i), e.what());
        break;  // the rest of this rank's files come later in the manifest's order
      }
    }
    if (!manifest.contents_problem.empty())
      note(static_cast<int64_t>(manifest.files.size()), manifest.contents_problem.c_str());
  } catch (const std::exception& e) {
    note(-1, e.what());
  }
  if (group != nullptr && group->size() > 1) first = first_finding_of_all(*group, first);
  if (first.order != Finding::kNone) throw IOError(first.message);
}

// A verified checkpoint's state and tensors.
LoadedCheckpoint read_checkpoint(const fs::path& dir) {
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

// Root's `text` on every rank.
std::string broadcast_string(comm::ProcessGroup& group, const std::string& text, int root) {
  const Tensor size = Tensor::from_data<int64_t>({static_cast<int64_t>(text.size())}, {1});
  group.broadcast(size, root)->wait();
  const int64_t n = size.data<int64_t>()[0];
  if (n == 0) return {};
  const Tensor bytes = Tensor::empty({n}, DType::u8);
  if (group.rank() == root) std::memcpy(bytes.raw_data(), text.data(), text.size());
  group.broadcast(bytes, root)->wait();
  return std::string(static_cast<const char*>(bytes.raw_data()), static_cast<size_t>(n));
}

std::optional<fs::path> find_latest(const fs::path& checkpoints_dir, std::vector<std::string>& skipped,
                                    comm::ProcessGroup* group) {
  std::vector<fs::path> newest_first;
  if (group == nullptr || group->rank() == 0) {
    auto committed = committed_checkpoints(checkpoints_dir);
    std::sort(committed.rbegin(), committed.rend());
    for (const auto& [step, dir] : committed) newest_first.push_back(dir);
  }
  if (group != nullptr && group->size() > 1) {  // rank 0's listing: every rank tries the same ones
    std::string names;
    for (const fs::path& dir : newest_first) names += dir.filename().string() + "\n";
    names = broadcast_string(*group, names, 0);
    newest_first.clear();
    for (size_t begin = 0, end; (end = names.find('\n', begin)) != std::string::npos; begin = end + 1)
      newest_first.push_back(checkpoints_dir / names.substr(begin, end - begin));
  }
  for (const fs::path& dir : newest_first) {
    try {
      verify(dir, group);
      return dir;
    } catch (const IOError& e) {
      skipped.push_back(e.what());
    }
  }
  return std::nullopt;
}

}  // namespace

void verify_checkpoint(const fs::path& dir) { verify(dir, nullptr); }
void verify_checkpoint(const fs::path& dir, comm::ProcessGroup& group) { verify(dir, &group); }

LoadedCheckpoint load_checkpoint(const fs::path& dir) {
  verify(dir, nullptr);
  return read_checkpoint(dir);
}

LoadedCheckpoint load_checkpoint(const fs::path& dir, comm::ProcessGroup& group) {
  verify(dir, &group);
  return read_checkpoint(dir);
}

std::optional<fs::path> find_latest_checkpoint(const fs::path& checkpoints_dir, std::vector<std::string>& skipped) {
  return find_latest(checkpoints_dir, skipped, nullptr);
}

std::optional<fs::path> find_latest_checkpoint(const fs::path& checkpoints_dir, std::vector<std::string>& skipped,
                                               comm::ProcessGroup& group) {
  return find_latest(checkpoints_dir, skipped, &group);
}

std::optional<LoadedCheckpoint> load_latest_checkpoint(const fs::path& checkpoints_dir,
                                                       std::vector<std::string>& skipped, comm::ProcessGroup& group) {
  const std::optional<fs::path> latest = find_latest(checkpoints_dir, skipped, &group);
  if (!latest) return std::nullopt;
  return read_checkpoint(*latest);
}

}  // namespace torus::checkpoint
