// Writing and committing a checkpoint (see checkpoint.h).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/checkpoint/checkpoint_hdf5.h"
#include "distributed/checkpoint/checkpoint_write.h"
#include "framework/io/durable_file.h"
#include "framework/io/safetensors.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

// TORUS_TEST_CRASH_AT=RANK:STEP:N kills that rank (SIGKILL) at the N-th point (1-based) of
// its save of step STEP: after each write, fsync and rename. The crash-safety test walks N
// up until the save completes.
class CrashPoints {
 public:
  CrashPoints(int rank, int64_t step) {
    const char* spec = std::getenv("TORUS_TEST_CRASH_AT");
    int crash_rank = -1;
    long long crash_step = -1;
    if (spec != nullptr && std::sscanf(spec, "%d:%lld:%ld", &crash_rank, &crash_step, &target_) == 3 &&
        (crash_rank != rank || crash_step != step))
      target_ = -1;
  }
  void operator()(const char* /*done*/) {
    if (target_ > 0 && ++count_ == target_) std::raise(SIGKILL);
  }
  io::DurabilityStep step() {
    return [this](const char* done) { (*this)(done); };
  }

 private:
  long target_ = -1, count_ = 0;
};

// "exp_avg" of "shard.exp_avg".
std::string field_of(const std::string& state_name) { return state_name.substr(state_name.find('.') + 1); }

// Elements [start, start + count) of the flattened `t`, as a 1-D host tensor (a model
// trained on a device is written from a host copy of the slice alone: a ZeRO shard on a
// device gives many pieces, and each would otherwise copy the whole shard).
Tensor slice(const Tensor& t, int64_t start, int64_t count) {
  return t.detach().contiguous().reshape({-1}).narrow(0, start, count).to(Device::cpu());
}

// This rank's share of every logical tensor, keyed "<tensor>@<start>". ZeRO: the pieces
// its shard holds; otherwise whole parameters and optimizer fields, balanced over the
// ranks by bytes (every rank holds them all). Buffers: rank 0, whole.
NamedTensors pieces_of_this_rank(const CheckpointSource& source) {
  const int rank = source.group->rank(), world = source.group->size();
  NamedTensors out;
  auto add = [&out](const std::string& tensor, const Tensor& values, int64_t start) {
    out.emplace_back(fmt::format("{}@{}", tensor, start), values);
  };
  const NamedTensors state = source.optimizer->named_state();
  if (source.zero != nullptr) {
    const Tensor& shard = source.zero->shard();
    for (const parallel::ZeroPiece& piece : source.zero->owned_pieces()) {
      add("model." + piece.name, slice(shard, piece.shard_position, piece.count), piece.start);
      for (const auto& [name, t] : state)  // "shard.<field>"
        if (t.shape() == shard.shape())
          add(fmt::format("optimizer.{}.{}", piece.name, field_of(name)), slice(t, piece.shard_position, piece.count),
              piece.start);
    }
    // Fields not shaped like the shard (Adam's step count) are one value for every
    // parameter: rank 0 writes it for each.
    for (const auto& [name, t] : state)
      if (t.shape() != shard.shape() && rank == 0)
        for (const auto& [parameter, p] : source.model->named_parameters())
          add(fmt::format("optimizer.{}.{}", parameter, field_of(name)), slice(t, 0, t.numel()), 0);
  } else {
    // Whole tensors, the largest first to the rank with the fewest bytes so far: the
    // ranks write about equal shares, and a loader can use each piece as the tensor.
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& [name, p] : source.model->named_parameters()) tensors.emplace_back("model." + name, p);
    for (const auto& [name, t] : state) tensors.emplace_back("optimizer." + name, t);
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const auto& a, const auto& b) { return a.second.nbytes() > b.second.nbytes(); });
    std::vector<size_t> assigned(static_cast<size_t>(world), 0);
    for (const auto& [name, t] : tensors) {
      const auto least = std::min_element(assigned.begin(), assigned.end());
      *least += t.nbytes();
      if (least - assigned.begin() == rank) add(name, slice(t, 0, t.numel()), 0);
    }
  }
  if (rank == 0)
    for (const auto& [name, b] : source.model->named_buffers()) add("model." + name, slice(b, 0, b.numel()), 0);
  return out;
}

// Every logical tensor's dtype and shape, from what rank 0 holds.
TensorSpecs logical_tensors(const CheckpointSource& source) {
  TensorSpecs out;
  const NamedTensors parameters = source.model->named_parameters();
  for (const auto& [name, t] : source.model->state_dict()) out["model." + name] = {t.dtype(), t.shape()};
  for (const auto& [name, t] : source.optimizer->named_state()) {
    if (source.zero == nullptr) {
      out["optimizer." + name] = {t.dtype(), t.shape()};
      continue;
    }
    const bool shard_shaped = t.shape() == source.zero->shard().shape();
    for (const auto& [parameter, p] : parameters)
      out[fmt::format("optimizer.{}.{}", parameter, field_of(name))] = {t.dtype(), shard_shaped ? p.shape() : t.shape()};
  }
  return out;
}

nlohmann::ordered_json state_json(const TrainingState& s) {
  return {{"format", "torus-checkpoint"},
          {"format_version", kFormatVersion},
          {"torus_version", kTorusVersion},
          {"step", s.step},
          {"data_position", {{"epoch", s.position.epoch}, {"batch", s.position.batch}}},
          {"dropout_offset", s.dropout_offset},
          {"optimizer_steps", s.optimizer_steps},
          {"world_size", s.world},
          {"zero_stage", s.zero_stage}};
}

// The index: the pieces read back from the shards' headers, checked to cover every
// tensor exactly.
nlohmann::ordered_json shard_index(const fs::path& dir, const TensorSpecs& logical,
                                   const std::vector<std::pair<std::string, int64_t>>& shards) {
  nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
  for (const auto& [name, spec] : logical)
    tensors[name] = {{"dtype", io::safetensors_dtype_name(spec.first)}, {"shape", spec.second}, {"pieces", nlohmann::ordered_json::array()}};
  for (const auto& [file, bytes] : shards) {
    const io::MappedSafetensors mapped = io::map_safetensors((dir / file).string());
    for (const io::SafetensorsEntry& e : mapped.index.entries) {
      const PieceKey key = parse_piece_key(e.name, file);
      TORUS_CHECK(tensors.contains(key.tensor), "checkpoint: {} holds '{}', which the model does not have", file, e.name);
      int64_t count = 1;
      for (int64_t d : e.shape) count *= d;
      tensors[key.tensor]["pieces"].push_back({{"file", file}, {"key", e.name}, {"start", key.start}, {"count", count}});
    }
  }
  nlohmann::ordered_json index = {{"metadata", {{"format", "torus-checkpoint-index"}, {"format_version", kFormatVersion}}},
                                  {"tensors", tensors}};
  check_coverage(index, "checkpoint index");
  return index;
}

// A file of the checkpoint as the manifest lists it.
struct ListedFile {
  std::string name;
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

ListedFile listed(const fs::path& dir, const std::string& name) {
  return {name, static_cast<int64_t>(fs::file_size(dir / name)), io::crc32_of_file(dir / name)};
}

// Rank 0, after the tensor files (and the index) are on disk: the state, the config,
// then the manifest of them all.
void write_state_and_manifest(const fs::path& dir, const CheckpointContent& content, std::vector<ListedFile> files,
                              const io::DurabilityStep& crash) {
  io::write_file_durably(dir / kStateFile, state_json(content.state).dump(1), crash);
  io::write_file_durably(dir / kConfigFile, content.config_yaml, crash);
  for (const char* file : {kStateFile, kConfigFile}) files.push_back(listed(dir, file));
  nlohmann::ordered_json listing = nlohmann::ordered_json::object();
  for (const ListedFile& f : files) listing[f.name] = {{"bytes", f.bytes}, {"crc32", fmt::format("{:08x}", f.crc32)}};
  const nlohmann::ordered_json manifest = {{"format", "torus-checkpoint-manifest"},
                                           {"format_version", kFormatVersion},
                                           {"torus_version", kTorusVersion},
                                           {"step", content.state.step},
                                           {"world_size", content.state.world},
                                           {"files", listing}};
  io::write_file_durably(dir / kManifestFile, manifest.dump(1), crash);
}

// Every rank writes and fsyncs its shard; rank 0 learns their sizes and checksums (the
// all-gather is also the barrier), then writes the index. Returns the files for the
// manifest on rank 0.
std::vector<ListedFile> write_shards(const fs::path& dir, const CheckpointContent& content, comm::ProcessGroup& group,
                                     const io::DurabilityStep& crash) {
  const int rank = group.rank(), world = group.size();
  const std::string file = shard_file_name(rank, world);
  // The checksum comes from the bytes as they were written: large shards bypass the page
  // cache, and reading them back would cost a second pass over the disk.
  uint32_t crc = 0;
  io::save_safetensors(
      (dir / file).string(), content.pieces,
      {{"format", "torus-checkpoint-shard"}, {"rank", std::to_string(rank)}, {"world_size", std::to_string(world)}},
      &crc);
  crash("shard written");
  io::sync_path(dir / file);
  crash("shard synced");
  Tensor mine = Tensor::from_data<int64_t>({static_cast<int64_t>(fs::file_size(dir / file)), static_cast<int64_t>(crc)},
                                           {2});
  Tensor all = Tensor::zeros({2 * world}, DType::i64);
  group.all_gather(mine, all)->wait();
  crash("sizes gathered");
  std::vector<ListedFile> files;
  if (rank != 0) return files;
  std::vector<std::pair<std::string, int64_t>> shards;
  for (int r = 0; r < world; ++r) {
    shards.emplace_back(shard_file_name(r, world), all.data<int64_t>()[2 * r]);
    files.push_back({shards.back().first, shards.back().second, static_cast<uint32_t>(all.data<int64_t>()[2 * r + 1])});
  }
  io::write_file_durably(dir / kIndexFile, shard_index(dir, content.tensors, shards).dump(1), crash);
  files.push_back(listed(dir, kIndexFile));
  return files;
}

// Every rank writes its pieces into the one file and closes it (which syncs what that rank
// wrote); after a barrier rank 0 fsyncs it and lists it for the manifest.
std::vector<ListedFile> write_hdf5(const fs::path& dir, const CheckpointContent& content, comm::ProcessGroup& group,
                                   const io::DurabilityStep& crash) {
  write_hdf5_checkpoint(dir / kHdf5File, content, group);
  crash("file written");
  group.barrier()->wait();
  if (group.rank() != 0) return {};
  io::sync_path(dir / kHdf5File);
  crash("file synced");
  return {listed(dir, kHdf5File)};
}

// Committed checkpoints beyond the newest keep_last go, oldest first.
void prune(const fs::path& checkpoints_dir, int keep_last) {
  if (keep_last <= 0) return;
  std::vector<std::pair<int64_t, fs::path>> committed = committed_checkpoints(checkpoints_dir);
  std::sort(committed.begin(), committed.end());
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < committed.size(); ++i) fs::remove_all(committed[i].second);
}

}  // namespace

void write_checkpoint_directory(const fs::path& final_dir, const CheckpointContent& content, CheckpointFormat format,
                                comm::ProcessGroup& group, const io::DurabilityStep& after) {
  const io::DurabilityStep crash = [&after](const char* done) {
    if (after) after(done);
  };
  const fs::path dir = final_dir.string() + ".tmp";
  const int rank = group.rank();
  if (rank == 0) {
    fs::remove_all(dir);  // what a crash left of an earlier try
    fs::create_directories(dir);
    crash("directory created");
  }
  group.barrier()->wait();
  const std::vector<ListedFile> files = format == CheckpointFormat::hdf5 ? write_hdf5(dir, content, group, crash)
                                                                         : write_shards(dir, content, group, crash);
  if (rank != 0) return;
  write_state_and_manifest(dir, content, files, crash);
  io::sync_path(dir);
  crash("directory synced");
  if (fs::exists(final_dir)) fs::remove_all(final_dir);  // a step saved again after resuming from earlier
  io::rename_durably(dir, final_dir, crash);
}

fs::path save_checkpoint(const fs::path& checkpoints_dir, const TrainingState& state, const CheckpointSource& source,
                         int keep_last) {
  comm::ProcessGroup& group = *source.group;
  const fs::path final_dir = checkpoints_dir / checkpoint_name(state.step);
  CrashPoints crash(group.rank(), state.step);
  const CheckpointContent content{state, source.config_yaml, logical_tensors(source), pieces_of_this_rank(source)};
  write_checkpoint_directory(final_dir, content, source.format, group, crash.step());
  if (group.rank() == 0) {
    io::write_file_durably(checkpoints_dir / kLatestFile, checkpoint_name(state.step) + "\n", crash.step());
    prune(checkpoints_dir, keep_last);
    crash("pruned");
  }
  group.barrier()->wait();  // no rank runs ahead of the commit
  return final_dir;
}

}  // namespace torus::checkpoint
