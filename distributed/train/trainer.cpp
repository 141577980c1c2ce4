// The training loop (see trainer.h).
#include "distributed/train/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "framework/autograd/grad_mode.h"
#include "framework/io/safetensors.h"
#include "framework/ops/autocast.h"
#include "framework/ops/device_checks.h"
#include "framework/ops/ops.h"
#include "framework/optim/clip_grad.h"
#include "framework/profile/profiler.h"

namespace torus::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The profile skips step 1 (first-touch allocations, oneDNN's kernel selection) and
// covers the next ten: enough for a trace to show a steady step, small enough to load.
constexpr int64_t kFirstProfiledStep = 2;
constexpr int64_t kProfiledSteps = 10;

// Fault injection for the tests of multi-rank failure handling:
// TORUS_TEST_FAIL_AT=RANK:STEP throws on that rank before that step, RANK:STEP:kill
// kills the process there (SIGKILL, as the OOM killer would), RANK:STEP:hang stops it
// there for an hour (a rank stuck outside communication: the others must time out).
// With TORUS_TEST_FAIL_ONCE=FILE it fails only while FILE does not exist, creating it:
// a restarted run gets past the step.
void maybe_inject_failure(int rank, int64_t step) {
  const char* spec = std::getenv("TORUS_TEST_FAIL_AT");
  if (spec == nullptr) return;
  int fail_rank = -1;
  long long fail_step = -1;
  char how[8] = "";
  if (std::sscanf(spec, "%d:%lld:%7s", &fail_rank, &fail_step, how) < 2) return;
  if (fail_rank != rank || fail_step != step) return;
  if (const char* once = std::getenv("TORUS_TEST_FAIL_ONCE"); once != nullptr) {
    if (std::filesystem::exists(once)) return;
    std::ofstream(once) << "failed at step " << step << "\n";
  }
  if (std::string(how) == "kill") std::raise(SIGKILL);
  if (std::string(how) == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
  throw Error(fmt::format("injected failure (TORUS_TEST_FAIL_AT={}) at step {}", spec, step));
}

// Whether reading a loss waits for a device: the model is on one. TORUS_TEST_DEFER_LOSSES=1
// defers on the cpu too, so the tests of the deferred path need no GPU.
bool defers_loss_reads(const Layer& model) {
  if (const char* test = std::getenv("TORUS_TEST_DEFER_LOSSES"); test != nullptr && std::string(test) == "1")
    return true;
  const std::vector<Tensor> parameters = model.parameters();
  return !parameters.empty() && !parameters.front().device().is_cpu();
}

}  // namespace

BatchLoss batch_loss(const Layer& model, const data::Batch& batch, Task task, bool count_correct) {
  // The loader's host batch goes where the model is (Module::to; its first parameter tells).
  const std::vector<Tensor> parameters = model.parameters();
  const Device device = parameters.empty() ? Device::cpu() : parameters.front().device();
  Tensor logits = model(batch.inputs.to(device));
  Tensor targets = batch.targets.to(device);
  if (task == Task::language_model) {
    TORUS_CHECK(logits.dim() == 3, "language model: expected logits (N, T, vocab), got {}", logits.shape_str());
    logits = logits.reshape({-1, logits.size(-1)});
    targets = targets.reshape({-1});
  } else {
    TORUS_CHECK(logits.dim() == 2 && logits.size(0) == targets.size(0) && targets.dim() == 1,
                "classification: the model gives {} for targets {}; expected logits (N, classes) for targets (N)",
                logits.shape_str(), targets.shape_str());
  }
  BatchLoss out{cross_entropy(logits, targets), 0, targets.numel()};
  if (count_correct) {
    NoGradGuard no_grad;
    // Counted where the logits are, in f32: class indices and counts below 2^24 are exact.
    const Tensor predicted = argmax(logits.detach(), 1).to(DType::f32);
    const Tensor hits = eq(predicted, targets.to(DType::f32)).to(DType::f32);
    out.correct = static_cast<int64_t>(sum(hits).item());
  }
  return out;
}

EvalResult evaluate(const Layer& model, data::Loader& loader, Task task, int64_t batches, comm::ProcessGroup* group) {
  NoGradGuard no_grad;
  loader.set_position({0, 0});
  // loss sum, correct, predictions, samples: summed over ranks at the end.
  Tensor totals = Tensor::zeros({4}, DType::f64);
  double* t = totals.data<double>();
  for (int64_t i = 0; batches == 0 || i < batches; ++i) {
    const data::Batch batch = loader.next();
    if (batch.inputs.size(0) > 0) {  // a short last batch may leave a rank without rows
      const BatchLoss b = batch_loss(model, batch, task, true);
      t[0] += b.loss.item() * static_cast<double>(b.predictions);
      t[1] += static_cast<double>(b.correct);
      t[2] += static_cast<double>(b.predictions);
      t[3] += static_cast<double>(batch.inputs.size(0));
    }
    if (batch.last_in_epoch) break;
  }
  if (group != nullptr && group->size() > 1) group->all_reduce(totals)->wait();
  TORUS_CHECK(t[2] > 0, "evaluation: the eval set gave no batch");
  return {t[0] / t[2], t[1] / t[2], static_cast<int64_t>(t[3])};
}

Trainer::Trainer(Layer& model, optim::Optimizer& optimizer, const optim::LrSchedule& schedule,
                 data::Loader& train_loader, data::Loader* eval_loader, RunDirectory& run, const TrainerOptions& options,
                 Distributed distributed)
    : model_(model),
      optimizer_(optimizer),
      schedule_(schedule),
      train_loader_(train_loader),
      eval_loader_(eval_loader),
      run_(run),
      options_(options),
      distributed_(distributed),
      world_(distributed.group != nullptr ? distributed.group->size() : 1),
      progress_(options.steps, options.task == Task::language_model ? "tokens" : "samples"),
      losses_(/*defer=*/defers_loss_reads(model)) {
  TORUS_CHECK(options_.steps > 0, "trainer: steps must be positive, got {}", options_.steps);
  TORUS_CHECK(options_.log_every > 0, "trainer: log_every must be positive, got {}", options_.log_every);
  TORUS_CHECK(options_.grad_accumulation > 0, "trainer: grad_accumulation must be positive, got {}",
              options_.grad_accumulation);
}

void Trainer::log(const std::string& line) {
  run_.log(line);
  if (run_.writer()) progress_.print(line);
}

double Trainer::mean_over_ranks(double value) const {
  if (world_ == 1) return value;
  Tensor t = Tensor::scalar(value, DType::f64);
  distributed_.group->all_reduce(t, comm::ReduceOp::average)->wait();
  return t.item();
}

void Trainer::save_weights(const std::string& file, int64_t step) const {
  // ZeRO stage 3 holds shards between steps: every rank takes part in gathering them.
  if (distributed_.zero != nullptr) distributed_.zero->materialize_parameters();
  if (run_.writer())
    io::save_safetensors((run_.path() / file).string(), model_.state_dict(),
                         {{"format", "pt"}, {"step", std::to_string(step)}, {"model", options_.model_description}});
  if (distributed_.zero != nullptr) distributed_.zero->release_parameters();
}

void Trainer::log_metrics(int64_t step, double loss, double lr, double seconds_since_log, int64_t samples_since_log) {
  const bool tokens = options_.task == Task::language_model;
  // Every rank trains its share of each global batch at the same pace.
  const double per_second = static_cast<double>(samples_since_log * world_) / seconds_since_log;
  MetricsRecord record;
  record.step = step;
  record.loss = loss;
  record.lr = lr;
  record.timing[tokens ? "tokens_per_s" : "samples_per_s"] = per_second;
  record.timing["time_s"] = seconds_since_log;
  run_.append_metrics(record);
  run_.log(fmt::format("step {}/{} loss {:.6f} lr {:.6g} {:.1f} {}/s", step, options_.steps, loss, lr, per_second,
                       tokens ? "tokens" : "samples"));
  if (run_.writer()) progress_.update(step, loss, per_second);
}

EvalResult Trainer::evaluate_and_log(int64_t step) {
  model_.eval();
  const EvalResult result = evaluate(model_, *eval_loader_, options_.task, options_.eval_batches, distributed_.group);
  try {
    DeferredDeviceChecks::verify_pending();  // the evaluation's own checks of its data, before its result
  } catch (const std::exception& e) {
    throw Error(fmt::format("eval at step {}: {}", step, e.what()));
  }
  model_.train();
  MetricsRecord record;
  record.step = step;
  record.values["eval_loss"] = result.loss;
  record.values["eval_accuracy"] = result.accuracy;
  if (options_.task == Task::language_model) record.values["eval_perplexity"] = std::exp(result.loss);
  run_.append_metrics(record);
  log(fmt::format("eval at step {}: loss {:.6f}, accuracy {:.2f}% over {} samples{}", step, result.loss,
                  100 * result.accuracy, result.samples,
                  options_.task == Task::language_model ? fmt::format(", perplexity {:.3f}", std::exp(result.loss))
                                                        : std::string()));
  return result;
}

double Trainer::train_step_on_shards(const data::Batch& batch, int64_t& samples) {
  parallel::ExactGradientSum& exact = *distributed_.exact_sum;
  const int64_t shards = exact.shards_per_rank();
  const int64_t total_shards = shards * world_;
  const int64_t rows = batch.inputs.size(0);
  TORUS_CHECK(rows % shards == 0, "reproducible mode: this rank's {} samples do not split into {} shards", rows,
              shards);
  const int64_t per_shard = rows / shards;
  Tensor losses = Tensor::zeros({shards}, DType::f64);
  for (int64_t k = 0; k < shards; ++k) {
    data::Batch shard = batch;
    shard.inputs = batch.inputs.narrow(0, k * per_shard, per_shard).contiguous();
    shard.targets = batch.targets.narrow(0, k * per_shard, per_shard).contiguous();
    BatchLoss b = batch_loss(model_, shard, options_.task, false);
    const double value = b.loss.item();
    DeferredDeviceChecks::verify_pending();  // item() waited already: a bad target says so, not "NaN"
    if (!std::isfinite(value))
      throw Error(fmt::format("the loss is {}; lower optimizer.lr or set optimizer.grad_clip_norm",
                              std::isnan(value) ? "NaN" : "infinite"));
    losses.data<double>()[k] = value;
    (b.loss * (1.0 / static_cast<double>(total_shards))).backward();
    exact.keep_shard(k);
  }
  samples += options_.task == Task::language_model ? batch.targets.numel() : rows;
  exact.finish();
  // The step's loss: every shard's, summed in shard order (the same whatever the ranks).
  Tensor all = Tensor::zeros({total_shards}, DType::f64);
  distributed_.group->all_gather(losses, all)->wait();
  double sum = 0;
  for (int64_t k = 0; k < total_shards; ++k) sum += all.data<double>()[k];
  return sum / static_cast<double>(total_shards);
}

Trainer::StepLoss Trainer::train_step(int64_t step, double lr, int64_t& samples) {
  maybe_inject_failure(distributed_.group != nullptr ? distributed_.group->rank() : 0, step);
  optimizer_.set_lr(lr);
  auto next_batch = [&] {
    TORUS_PROFILE_SCOPE("next batch", "data");
    return train_loader_.next();
  };
  StepLoss loss;
  if (distributed_.exact_sum != nullptr) {
    loss.read = train_step_on_shards(next_batch(), samples);
  } else {
    const double scale = 1.0 / static_cast<double>(options_.grad_accumulation);
    loss.scale = scale;
    for (int64_t micro = 0; micro < options_.grad_accumulation; ++micro) {
      const data::Batch batch = next_batch();
      const bool final = micro + 1 == options_.grad_accumulation;
      if (distributed_.data_parallel != nullptr) distributed_.data_parallel->prepare_backward(final);
      if (distributed_.zero != nullptr) distributed_.zero->prepare_backward(final);
      BatchLoss b = batch_loss(model_, batch, options_.task, false);
      loss.micro_losses.push_back(b.loss.detach());  // read later, with other steps' (step_losses.h)
      (options_.grad_accumulation == 1 ? b.loss : b.loss * scale).backward();
      // Throughput counts samples, or tokens for language models (this rank's share).
      samples += options_.task == Task::language_model ? batch.targets.numel() : batch.inputs.size(0);
    }
  }
  TORUS_PROFILE_SCOPE("optimizer step", "step");
  // ZeRO shards reduced gradients; with reproducible mode's exact sum they are whole
  // (and the same on every rank) until taken, so clipping sees all of them.
  parallel::ZeroSharding* zero = distributed_.zero;
  const bool sharded_reduction = zero != nullptr && distributed_.exact_sum == nullptr;
  if (distributed_.data_parallel != nullptr) distributed_.data_parallel->finish_gradients();
  if (sharded_reduction) zero->finish_gradients();
  // Clipping's coefficient scales each gradient as the optimizer reads it: nothing is
  // read back, and no pass of its own goes over the gradients.
  Tensor clip;
  if (options_.grad_clip_norm > 0)
    clip = sharded_reduction ? zero->clip_coefficient(options_.grad_clip_norm)
                             : optim::clip_coefficient(model_.parameters(), options_.grad_clip_norm);
  if (zero != nullptr && !sharded_reduction) zero->take_reduced_gradients();
  optimizer_.step(clip);
  if (distributed_.zero != nullptr) distributed_.zero->gather_parameters();
  optimizer_.zero_grad();
  return loss;
}

void Trainer::set_checkpointing(int64_t every_steps, SaveCheckpoint save) {
  TORUS_CHECK(every_steps >= 0, "trainer: checkpoint every_steps must be >= 0, got {}", every_steps);
  checkpoint_every_ = every_steps;
  save_checkpoint_ = std::move(save);
}

void Trainer::resume_from(int64_t completed_steps, const data::LoaderPosition& next) {
  TORUS_CHECK(completed_steps >= 0 && completed_steps <= options_.steps,
              "resume: the checkpoint is at step {}, but trainer.steps is {}", completed_steps, options_.steps);
  start_step_ = completed_steps;
  train_loader_.set_position(next);
}

TrainSummary Trainer::run() {
  const bool profiling = !options_.profile.empty() && run_.writer();  // one trace, rank 0's
  if (options_.save_initial && start_step_ == 0) save_weights("initial.safetensors", 0);
  model_.train();
  const AutocastGuard precision(options_.autocast);  // this thread's products, for the whole run
  // On a device the ops' data checks wait for the losses' reads (step_losses.h).
  std::optional<DeferredDeviceChecks> device_checks;
  if (losses_.deferred()) device_checks.emplace();

  TrainSummary summary;
  const auto start = Clock::now();
  auto last_log = start;
  int64_t samples_since_log = 0;
  for (int64_t step = start_step_ + 1; step <= options_.steps; ++step) {
    if (profiling && step == kFirstProfiledStep) profile::start();
    const double lr = schedule_.lr(step - 1);
    StepLoss loss;
    try {
      loss = train_step(step, lr, samples_since_log);
    } catch (const std::exception& e) {
      throw Error(fmt::format("step {}: {}", step, e.what()));  // which step, on every path
    }
    // Its errors name the step they are about, which may be earlier than this one.
    if (loss.read) losses_.add_read(*loss.read);
    else losses_.add(step, lr, std::move(loss.micro_losses), loss.scale);
    if (profiling && step == kFirstProfiledStep + kProfiledSteps - 1) {
      profile::stop();
      for (const std::string& line : profile::write_chrome_trace((run_.path() / options_.profile).string())) log(line);
    }
    if (step % options_.log_every == 0 || step == options_.steps) {
      const double step_loss = losses_.last();
      log_metrics(step, distributed_.exact_sum != nullptr ? step_loss : mean_over_ranks(step_loss), lr,
                  seconds_since(last_log), samples_since_log);
      last_log = Clock::now();
      samples_since_log = 0;
    }
    // Nothing is evaluated or saved past a step whose loss is not finite.
    if (eval_loader_ != nullptr && options_.eval_every > 0 && step % options_.eval_every == 0 && step != options_.steps) {
      losses_.read();
      evaluate_and_log(step);
    }
    const bool saved = save_checkpoint_ && checkpoint_every_ > 0 && step % checkpoint_every_ == 0 && step != options_.steps;
    if (saved) {
      losses_.read();
      save_checkpoint_(step, train_loader_.position());
    }
    if (stop_requested_ && step != options_.steps && stop_requested_()) {
      summary.last_loss = losses_.last();
      if (save_checkpoint_ && !saved) save_checkpoint_(step, train_loader_.position());
      if (run_.writer()) progress_.finish();
      summary.steps = step;
      summary.stopped_at = step;
      summary.seconds = seconds_since(start);
      return summary;
    }
  }
  summary.last_loss = losses_.last();
  if (run_.writer()) progress_.finish();
  if (profiling && options_.steps < kFirstProfiledStep + kProfiledSteps - 1 && profile::enabled()) {
    profile::stop();
    for (const std::string& line : profile::write_chrome_trace((run_.path() / options_.profile).string())) log(line);
  }
  summary.steps = options_.steps;
  summary.seconds = seconds_since(start);
  // A run resumed from its last step has logged its final evaluation already.
  if (eval_loader_ != nullptr && start_step_ < options_.steps) summary.eval = evaluate_and_log(options_.steps);
  if (save_checkpoint_ && start_step_ < options_.steps) save_checkpoint_(options_.steps, train_loader_.position());
  save_weights("final.safetensors", options_.steps);
  log(fmt::format("done: {} steps in {}; final weights in {}", options_.steps,
                  Progress::format_duration(summary.seconds), (run_.path() / "final.safetensors").string()));
  if (distributed_.data_parallel != nullptr) log(distributed_.data_parallel->communication_stats().describe());
  return summary;
}

}  // namespace torus::train
