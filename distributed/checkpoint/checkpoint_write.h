// The part of a save that does not depend on where the tensors come from: a checkpoint
// directory written by every rank of a group, in either format, and committed as
// checkpoint.h describes. save_checkpoint feeds it a run's state, convert_checkpoint a
// loaded checkpoint's whole tensors.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "distributed/checkpoint/checkpoint.h"
#include "framework/io/durable_file.h"

namespace torus::checkpoint {

// Every logical tensor ("model.<name>", "optimizer.<parameter>.<field>"): dtype and shape.
using TensorSpecs = std::map<std::string, std::pair<DType, Shape>>;

struct CheckpointContent {
  TrainingState state;
  std::string config_yaml;
  TensorSpecs tensors;  // the same on every rank
  NamedTensors pieces;  // this rank's: "<tensor>@<start>", 1-D, elements [start, start + n)
};

// Collective over `group`: writes final_dir + ".tmp" and renames it to final_dir (an older
// final_dir is replaced). `crash` is called after each step (crash tests kill there).
void write_checkpoint_directory(const std::filesystem::path& final_dir, const CheckpointContent& content,
                                CheckpointFormat format, comm::ProcessGroup& group, const io::DurabilityStep& crash);

}  // namespace torus::checkpoint
