// Checkpoint choices of a run (see train_checkpoint.h).
#include "launcher/train_checkpoint.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace torus::cli {
namespace fs = std::filesystem;

fs::path checkpoints_dir(const config::ExperimentConfig& config, const fs::path& run_dir) {
  return config.checkpoint().dir().empty() ? run_dir / "checkpoints" : fs::path(config.checkpoint().dir());
}

std::optional<checkpoint::LoadedCheckpoint> find_resume_point(const config::ExperimentConfig& config,
                                                              const fs::path& checkpoints,
                                                              std::vector<std::string>& notes,
                                                              comm::ProcessGroup& group) {
  const std::string& resume = config.resume();
  if (resume.empty()) return std::nullopt;
  if (resume != "auto") {
    try {
      return checkpoint::load_checkpoint(resume, group);
    } catch (const Error& e) {
      throw IOError(fmt::format("resume={}: {}", resume, e.what()));
    }
  }
  std::vector<std::string> skipped;
  std::optional<checkpoint::LoadedCheckpoint> latest = checkpoint::load_latest_checkpoint(checkpoints, skipped, group);
  for (const std::string& why : skipped) notes.push_back("resume=auto: skipped " + why);
  if (!latest)
    notes.push_back(fmt::format("resume=auto: no intact checkpoint in {}; starting at step 0", checkpoints.string()));
  return latest;
}

namespace {

std::string describe_values(const Tensor& t) {
  return t.numel() == 1 ? fmt::format("{}", t.item()) : fmt::format("{} {}", t.shape_str(), t.str());
}

// The one value of a field stored per parameter (Adam's step count), checked to agree.
Tensor common_value(const NamedTensors& whole, const std::string& field) {
  const Tensor& first = whole.front().second;
  const Tensor first_values = first.contiguous();
  for (const auto& [name, t] : whole) {
    const Tensor values = t.contiguous();
    const bool same = values.dtype() == first_values.dtype() && values.shape() == first_values.shape() &&
                      std::memcmp(values.raw_data(), first_values.raw_data(), values.nbytes()) == 0;
    TORUS_CHECK(same,
                "resume: optimizer field '{}' is one value for every parameter, but '{}' has {} and '{}' has {} "
                "(a damaged or hand-edited checkpoint?)",
                field, whole.front().first, describe_values(first_values), name, describe_values(values));
  }
  return first;
}

}  // namespace

void restore_optimizer(const checkpoint::LoadedCheckpoint& loaded, const Module& model, optim::Optimizer& optimizer,
                       const parallel::ZeroSharding* zero) {
  if (zero == nullptr) {
    optimizer.load_state(loaded.optimizer, loaded.state.optimizer_steps);
    return;
  }
  // The shard's state, field by field, from the whole per-parameter tensors.
  const NamedTensors parameters = model.named_parameters();
  NamedTensors state;
  for (const std::string& field : optimizer.state_fields()) {
    NamedTensors whole;
    const std::string suffix = "." + field;
    for (const auto& [name, t] : loaded.optimizer)
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
        whole.emplace_back(name.substr(0, name.size() - suffix.size()), t);
    if (whole.empty()) continue;
    const auto parameter = std::find_if(parameters.begin(), parameters.end(),
                                        [&](const auto& p) { return p.first == whole.front().first; });
    TORUS_CHECK(parameter != parameters.end(), "resume: optimizer state for '{}', which the model does not have",
                whole.front().first);
    if (whole.front().second.shape() == parameter->second.shape()) {
      state.emplace_back("shard" + suffix, zero->shard_of(whole));
    } else {  // one value for every parameter (Adam's step count): the shard takes it once
      state.emplace_back("shard" + suffix, common_value(whole, field));
    }
  }
  optimizer.load_state(state, loaded.state.optimizer_steps);
}

}  // namespace torus::cli
