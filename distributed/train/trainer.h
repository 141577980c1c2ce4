// The training loop: steps of forward, backward and optimizer update over a loader,
// with periodic logging (metrics.jsonl, train.log, the progress line), evaluation on a
// held-out loader, NaN detection, an optional op profile, and the final weights.
// World-aware by construction: the loaders hand this rank its part of each global
// batch; a world of one is the single-process case.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "distributed/comm/process_group.h"
#include "distributed/parallel/data_parallel.h"
#include "distributed/parallel/exact_gradient_sum.h"
#include "distributed/parallel/zero_sharding.h"
#include "distributed/train/progress.h"
#include "distributed/train/run_directory.h"
#include "distributed/train/step_losses.h"
#include "framework/data/loader.h"
#include "framework/nn/module.h"
#include "framework/optim/optimizer.h"
#include "framework/optim/schedule.h"

namespace torus::train {

// classification: inputs (N, ...) -> logits (N, classes), targets (N) class indices.
// language_model: tokens (N, T) -> logits (N, T, vocab), targets (N, T) next tokens.
enum class Task { classification, language_model };

struct TrainerOptions {
  int64_t steps = 0;           // optimizer steps
  int64_t log_every = 10;
  int64_t eval_every = 0;      // 0: evaluate only at the end
  int64_t eval_batches = 0;    // 0: the whole eval set
  int64_t grad_accumulation = 1;  // loader batches (micro-batches) per optimizer step
  double grad_clip_norm = 0;   // 0: no clipping
  bool save_initial = false;   // write initial.safetensors before the first step
  std::string profile;         // Chrome trace of steps 2..11 to this file; empty: none
  Task task = Task::classification;
  std::string model_description;  // stored in the weights' metadata
  // What matrix products round their f32 operands to while the trainer runs (bf16: mixed
  // precision, framework/ops/autocast.h), forward, backward and evaluation alike.
  DType autocast = DType::f32;
};

struct EvalResult {
  double loss = 0;
  double accuracy = 0;  // of predictions (tokens for language models)
  int64_t samples = 0;
};

struct TrainSummary {
  int64_t steps = 0;
  double last_loss = 0;
  std::optional<EvalResult> eval;
  double seconds = 0;
  int64_t stopped_at = 0;  // the step after which a stop request ended the run; 0: it ran to the end
};

// The loss of a batch and how many of its predictions were right.
struct BatchLoss {
  Tensor loss;  // scalar mean over the batch's predictions
  int64_t correct = 0;
  int64_t predictions = 0;
};
BatchLoss batch_loss(const Layer& model, const data::Batch& batch, Task task, bool count_correct);

// Loss and accuracy over `batches` batches of `loader` from its start (0: one epoch),
// summed over the ranks of `group` when given (each rank evaluates its slices).
EvalResult evaluate(const Layer& model, data::Loader& loader, Task task, int64_t batches = 0,
                    comm::ProcessGroup* group = nullptr);

// The ranks a trainer works with: null for a world of one. data_parallel (bucketed
// averaging) alone, or exact_sum (reproducible mode: virtual shards, exact sums) and/or
// zero (ZeRO: the optimizer updates zero->shard(), then the shards are gathered; with
// exact_sum it shards the exact sums instead of reducing gradients itself).
// `group` moves host tensors only (the logged loss, evaluation sums, the shard losses of
// reproducible mode): on a device run it is the host (MPI) group, and data_parallel holds
// the device (NCCL) group of the gradients.
struct Distributed {
  comm::ProcessGroup* group = nullptr;
  parallel::DataParallel* data_parallel = nullptr;
  parallel::ExactGradientSum* exact_sum = nullptr;
  parallel::ZeroSharding* zero = nullptr;
};

class Trainer {
 public:
  Trainer(Layer& model, optim::Optimizer& optimizer, const optim::LrSchedule& schedule, data::Loader& train_loader,
          data::Loader* eval_loader, RunDirectory& run, const TrainerOptions& options, Distributed distributed = {});
  TrainSummary run();

  // Calls `save(step, next)` on every rank after step N's logging and evaluation when N
  // is a multiple of every_steps (0: never), and after the last step; `next` is the
  // training loader's position for the step after.
  using SaveCheckpoint = std::function<void(int64_t step, const data::LoaderPosition& next)>;
  void set_checkpointing(int64_t every_steps, SaveCheckpoint save);
  // Continues a run after `completed_steps` steps, the training loader at `next`.
  void resume_from(int64_t completed_steps, const data::LoaderPosition& next);
  // Asked on every rank after each step; when it says stop (it must say the same on
  // every rank), the run commits a checkpoint of that step and returns early, with
  // TrainSummary::stopped_at set.
  void set_stop_check(std::function<bool()> stop_requested) { stop_requested_ = std::move(stop_requested); }

 private:
  // A step's loss as train_step leaves it: its micro-batches' losses where they were
  // computed, to be weighed by `scale`, summed and read later (step_losses.h); or, in
  // reproducible mode, the value already read and summed over the ranks.
  struct StepLoss {
    std::vector<Tensor> micro_losses;
    double scale = 1;
    std::optional<double> read;
  };
  // One optimizer step over grad_accumulation micro-batches; returns its loss and adds the
  // samples (tokens for language models) it trained on to `samples`.
  StepLoss train_step(int64_t step, double lr, int64_t& samples);
  // Reproducible mode's step: one forward and backward per virtual shard of this rank's
  // batch, then the exact sum; returns the mean loss over every shard of every rank.
  double train_step_on_shards(const data::Batch& batch, int64_t& samples);
  void log(const std::string& line);
  void log_metrics(int64_t step, double loss, double lr, double seconds_since_log, int64_t samples_since_log);
  double mean_over_ranks(double value) const;
  EvalResult evaluate_and_log(int64_t step);
  void save_weights(const std::string& file, int64_t step) const;

  Layer& model_;
  optim::Optimizer& optimizer_;
  const optim::LrSchedule& schedule_;
  data::Loader& train_loader_;
  data::Loader* eval_loader_;
  RunDirectory& run_;
  TrainerOptions options_;
  Distributed distributed_;
  int world_ = 1;
  Progress progress_;
  int64_t checkpoint_every_ = 0;
  SaveCheckpoint save_checkpoint_;
  int64_t start_step_ = 0;  // steps done before this run (resumed)
  std::function<bool()> stop_requested_;
  StepLosses losses_;  // deferred on a device
};

}  // namespace torus::train
