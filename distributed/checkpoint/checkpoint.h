// Checkpoints: the full training state in a directory, written by every rank and
// committed atomically, loadable at any world size and ZeRO stage.
//
// checkpoints/step_NNNNNNNN/ holds
//   shard-RRRRR-of-WWWWW.safetensors  each rank's pieces of the logical tensors: keys
//                                     "<tensor>@<start>", 1-D, elements [start, start + n)
//                                     of the flattened tensor. Tensors are "model.<state
//                                     dict name>" and "optimizer.<parameter>.<field>".
//   index.json                        every logical tensor: dtype, shape, pieces (file,
//                                     key, start, count): the pieces cover it exactly
//   training_state.json               step, data position, RNG offsets, optimizer steps,
//                                     world size, ZeRO stage, versions, the resolved config
//   manifest.json                     written last: every file with its size and CRC-32
// Commit protocol: every rank writes and fsyncs its shard into step_N.tmp/; after a
// barrier rank 0 writes the index, the state and then the manifest (each under a
// temporary name, fsynced, renamed), renames the directory to step_N, fsyncs checkpoints/,
// and only then points checkpoints/latest at it and deletes checkpoints beyond keep_last.
// A crash at any moment leaves the previous checkpoint as it was, and a step_N that is
// complete or absent (an unfinished step_N.tmp is ignored).
//
// The HDF5 format (checkpoint.format: hdf5) keeps the directory, the state, the manifest
// and the commit protocol, but replaces the shards and the index by one file,
//   checkpoint.h5                     written collectively over MPI-IO: one dataset per
//                                     logical tensor (named as above) with its shape and
//                                     dtype, each rank writing its pieces into it; root
//                                     attributes format, format_version, torus_version,
//                                     step, world_size, zero_stage, config
// (checkpoint_hdf5.h). Loading tells the formats apart by the files the manifest lists.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "distributed/comm/process_group.h"
#include "distributed/parallel/zero_sharding.h"
#include "framework/data/batch.h"
#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"

namespace torus::checkpoint {

inline constexpr int kFormatVersion = 1;

enum class CheckpointFormat { safetensors, hdf5 };

// Where training stands after `step` optimizer steps: what resuming needs besides tensors.
struct TrainingState {
  int64_t step = 0;
  data::LoaderPosition position;  // of the next training batch
  uint64_t dropout_offset = 0;    // the dropout generator's position (rank 0's)
  int64_t optimizer_steps = 0;
  int world = 1;                  // as saved; informational on load
  int zero_stage = 0;
};

// What the run holds, as a checkpoint reads it.
struct CheckpointSource {
  const Module* model = nullptr;
  const optim::Optimizer* optimizer = nullptr;
  const parallel::ZeroSharding* zero = nullptr;  // null: model and optimizer whole on every rank
  comm::ProcessGroup* group = nullptr;
  std::string config_yaml;  // the resolved config, stored beside the state
  CheckpointFormat format = CheckpointFormat::safetensors;
};

// Collective: every rank of source.group calls it with the same state. Returns the
// committed directory. keep_last 0 keeps every checkpoint.
std::filesystem::path save_checkpoint(const std::filesystem::path& checkpoints_dir, const TrainingState& state,
                                      const CheckpointSource& source, int keep_last);

// Read-only: a tensor stored in one piece views the mapped file instead of a copy.
struct LoadedCheckpoint {
  std::filesystem::path path;
  TrainingState state;
  NamedTensors model;      // whole tensors by state_dict name
  NamedTensors optimizer;  // whole tensors "<parameter>.<field>", as Optimizer::named_state
  std::string config_yaml;
  CheckpointFormat format = CheckpointFormat::safetensors;
};

// Checks the manifest (every file present with its size and CRC-32), then reads the state
// and assembles every tensor from its pieces (HDF5: reads each dataset whole). Any problem
// is an IOError naming the file. For single-process tools; a job's ranks call the
// collective overload.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& dir);
// Collective over `group` (every rank calls it with the same dir): the files' checksums are
// split over the ranks of each node (each file read once per node, the pages then cached for
// every rank there), and a problem any rank finds reaches all of them, so every rank throws
// the same IOError, naming the same file, as a single process would.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& dir, comm::ProcessGroup& group);
// Throws an IOError saying why `dir` is not a committed, intact checkpoint (the first problem
// in the manifest's order of files). The group overload is collective, as above.
void verify_checkpoint(const std::filesystem::path& dir);
void verify_checkpoint(const std::filesystem::path& dir, comm::ProcessGroup& group);
// The newest committed, intact checkpoint in checkpoints_dir, if any; each newer one that
// is incomplete or corrupt adds a line to `skipped` saying why. The group overload is
// collective and takes rank 0's listing of the directory, so every rank picks the same one.
std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& checkpoints_dir,
                                                            std::vector<std::string>& skipped);
std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& checkpoints_dir,
                                                            std::vector<std::string>& skipped,
                                                            comm::ProcessGroup& group);
// find_latest_checkpoint, then its tensors read as load_checkpoint reads them, without
// checksumming the files a second time. Collective, as above.
std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::filesystem::path& checkpoints_dir,
                                                       std::vector<std::string>& skipped, comm::ProcessGroup& group);

}  // namespace torus::checkpoint
