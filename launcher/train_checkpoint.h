// A run's checkpoints as the config asks for them: where they go, what `resume` picks,
// and how a loaded checkpoint becomes this run's state at this run's world size and ZeRO
// stage (tensors are stored whole-by-name, so any layout reads any other).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "distributed/checkpoint/checkpoint.h"
#include "launcher/config.h"

namespace torus::cli {

// checkpoint.dir, or <run dir>/checkpoints.
std::filesystem::path checkpoints_dir(const config::ExperimentConfig& config, const std::filesystem::path& run_dir);

// The checkpoint `resume` names: none when it is empty, or `auto` finds no intact one
// (`notes` then says so, and names every newer checkpoint skipped and why); an IOError
// when an explicit path is not an intact checkpoint. Collective over `group`: the ranks
// share the checksumming and all pick the same checkpoint, or all fail alike.
std::optional<checkpoint::LoadedCheckpoint> find_resume_point(const config::ExperimentConfig& config,
                                                              const std::filesystem::path& checkpoints,
                                                              std::vector<std::string>& notes,
                                                              comm::ProcessGroup& group);

// The checkpoint's optimizer state into `optimizer`: whole tensors per parameter, or
// (ZeRO) this rank's shard of them. A field stored once per parameter but kept once per
// shard (Adam's step count) must hold the same value for every parameter; an Error names
// the first that differs.
void restore_optimizer(const checkpoint::LoadedCheckpoint& loaded, const Module& model, optim::Optimizer& optimizer,
                       const parallel::ZeroSharding* zero);

}  // namespace torus::cli
