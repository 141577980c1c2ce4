// Maps an experiment config onto the objects a run needs: the model, the datasets and
// their loaders, the optimizer and schedule, and the trainer's options. Only the
// launcher knows the config message; everything below it gets plain option structs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "distributed/comm/process_group.h"
#include "distributed/train/trainer.h"
#include "framework/data/dataset.h"
#include "framework/data/loader.h"
#include "framework/nn/module.h"
#include "framework/optim/factory.h"
#include "framework/optim/optimizer.h"
#include "framework/optim/schedule.h"
#include "framework/tensor/random.h"
#include "launcher/config.h"

namespace torus::cli {

struct RunSetup {
  std::shared_ptr<Layer> model;
  std::shared_ptr<const data::Dataset> train_set, eval_set;
  std::unique_ptr<data::Loader> train_loader, eval_loader;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LrSchedule> schedule;
  train::TrainerOptions trainer;
  std::filesystem::path run_dir;
  std::string model_description;  // one line: kind, shape and parameter count
  std::shared_ptr<Generator> dropout_generator;  // null for models without dropout; checkpointed
  Device device;  // where the model is: this rank's device (launcher/rank_placement.h)
};

// Everything for `torus train` (with `for_training`) or for `torus eval` (the model and
// the eval loader only). Inconsistencies between sections (a global batch that the
// micro-batches do not divide, a model that does not fit the data) are ValueErrors
// naming the config fields. Applies trainer.threads and loads init_from.
// This rank of `world` gets its slice of every global batch (data.batch_size stays global)
// and its device (rank_placement.h: one per local rank for trainer.device cuda).
RunSetup make_run_setup(const config::ExperimentConfig& config, bool for_training, const comm::WorldInfo& world);
// The same for `rank` of `world` ranks, taken to share one host (local rank = rank).
RunSetup make_run_setup(const config::ExperimentConfig& config, bool for_training, int rank = 0, int world = 1);

// The config's optimizer section as the optimizer factory takes it.
optim::OptimizerOptions optimizer_options(const config::ExperimentConfig& config);

}  // namespace torus::cli
