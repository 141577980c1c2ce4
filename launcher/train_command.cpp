// `torus train` and `torus eval` (see train_command.h): load the config, build the run
// from it, then train (writing the run directory) or evaluate given weights.
#include "launcher/train_command.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint_locate.h"
#include "distributed/comm/device_process_group.h"
#include "distributed/comm/world.h"
#include "distributed/parallel/data_parallel.h"
#include "distributed/parallel/exact_gradient_sum.h"
#include "distributed/parallel/zero_sharding.h"
#include "distributed/train/run_directory.h"
#include "distributed/train/trainer.h"
#include "framework/io/safetensors.h"
#include "framework/ops/autocast.h"
#include "framework/tensor/allocator.h"
#include "kernels/cpu/parallel.h"
#include "launcher/config_command.h"
#include "launcher/config_yaml.h"
#include "launcher/rank_placement.h"
#include "launcher/stop_signals.h"
#include "launcher/train_checkpoint.h"
#include "launcher/train_setup.h"

namespace torus::cli {
namespace {

// True on every rank once any rank has been signalled (one all-reduce of a flag).
bool stop_requested_anywhere(comm::ProcessGroup& group, const StopSignals& signals) {
  Tensor flag = Tensor::scalar(signals.received() != 0 ? 1.0 : 0.0, DType::f64);
  if (group.size() > 1) group.all_reduce(flag, comm::ReduceOp::sum)->wait();
  return flag.item() > 0;
}

// How gradients meet across ranks: data parallelism, or reproducible mode and/or ZeRO
// (none for a world of one in the standard mode).
struct Parallelism {
  std::unique_ptr<parallel::DataParallel> data_parallel;
  std::unique_ptr<parallel::ExactGradientSum> exact_sum;
  std::unique_ptr<parallel::ZeroSharding> zero;
  std::string description;  // for the run's header line
};

// Builds it, makes every rank start from rank 0's weights, and (ZeRO) gives the run an
// optimizer over this rank's shard instead of the whole model. `gradient_group` carries
// data parallelism's buckets: `group` itself, or a device group for a model on a device.
Parallelism make_parallelism(const config::ExperimentConfig& config, RunSetup& setup, comm::ProcessGroup& group,
                             comm::ProcessGroup& gradient_group) {
  const auto& d = config.distributed();
  Parallelism p;
  if (d.reproducible()) {
    p.exact_sum = std::make_unique<parallel::ExactGradientSum>(setup.model->parameters(), group,
                                                               d.reproducible_shards());
    p.exact_sum->broadcast_parameters();
    p.description = fmt::format(", reproducible: {} shards of {} samples per rank, summed exactly",
                                p.exact_sum->shards_per_rank(), config.data().batch_size() / d.reproducible_shards());
  }
  if (d.zero_stage() > 0) {
    p.zero = std::make_unique<parallel::ZeroSharding>(
        *setup.model, gradient_group,
        parallel::ZeroOptions{d.zero_stage(), d.bucket_mb(), /*reduce_gradients=*/!p.exact_sum});
    p.zero->broadcast_state();
    setup.optimizer = optim::make_optimizer({{"shard", p.zero->shard()}}, optimizer_options(config));
    p.description += fmt::format(", ZeRO stage {}: {} bucket{}, this rank's shard {} elements of {} parameters (with "
                                 "padding)",
                                 d.zero_stage(), p.zero->bucket_count(), p.zero->bucket_count() > 1 ? "s" : "",
                                 p.zero->shard().numel(), setup.model->parameter_count());
  } else if (!p.exact_sum && group.size() > 1) {
    p.data_parallel = std::make_unique<parallel::DataParallel>(*setup.model, gradient_group,
                                                               parallel::DataParallelOptions{d.bucket_mb()});
    p.data_parallel->broadcast_state();
    p.description = fmt::format(", {} gradient buckets", p.data_parallel->bucket_count());
  }
  return p;
}

int64_t bytes_of(const std::vector<Tensor>& tensors) {
  int64_t bytes = 0;
  for (const Tensor& t : tensors)
    if (t.defined()) bytes += static_cast<int64_t>(t.nbytes());
  return bytes;
}

// What this rank holds between steps, by kind, and the host allocator's own count.
std::string memory_report(const Layer& model, const optim::Optimizer& optimizer, const Parallelism& p) {
  const std::vector<Tensor> parameters = model.parameters();
  int64_t parameter_bytes = bytes_of(parameters);
  std::string gathered;
  if (p.zero && p.zero->stage() == 3) {
    const parallel::ZeroMemory zero = p.zero->memory();
    parameter_bytes = zero.parameters;
    gathered = fmt::format(" (at most {:.3f} MiB gathered at once)", static_cast<double>(zero.peak_gathered) / (1 << 20));
  }
  int64_t gradients = 0;
  if (p.zero || p.exact_sum) {
    gradients = (p.zero ? p.zero->memory().gradients : 0) + (p.exact_sum ? p.exact_sum->buffer_bytes() : 0);
  } else {
    std::vector<Tensor> grads;
    for (const Tensor& t : parameters) grads.push_back(t.grad());
    gradients = bytes_of(grads);
    if (p.data_parallel)
      for (int64_t bucket : p.data_parallel->bucket_bytes()) gradients += bucket;
  }
  std::vector<Tensor> state;
  for (const auto& [name, t] : optimizer.named_state()) state.push_back(t);
  const AllocatorStats host = HostAllocator::instance().stats();
  constexpr double kMiB = 1 << 20;
  return fmt::format("memory on this rank: parameters {:.3f} MiB{}, gradients {:.3f} MiB, optimizer state {:.3f} MiB; "
                     "host allocator {:.3f} MiB in use, peak {:.3f} MiB",
                     parameter_bytes / kMiB, gathered, gradients / kMiB, bytes_of(state) / kMiB,
                     host.allocated_bytes / kMiB, host.peak_allocated_bytes / kMiB);
}

// The run itself, once the model is on this rank's device; `gradient_group`: see
// make_parallelism. Everything holding host tensors (resume, metrics, evaluation, the stop
// agreement, checkpoints) goes through `group`.
void train_run(const config::ExperimentConfig& config, RunSetup& setup, comm::ProcessGroup& group,
               comm::ProcessGroup& gradient_group, const StopSignals& signals) {
  const int rank = group.rank(), world = group.size();
  const std::filesystem::path checkpoints = checkpoints_dir(config, setup.run_dir);
  std::vector<std::string> notes;
  if (config.trainer().precision() == config::Precision::bf16)
    notes.push_back(setup.device.is_cpu()
                        ? "precision bf16: matmul and linear on bf16-rounded operands, emulated on the cpu (slower than f32)"
                        : "precision bf16: matmul and linear as bf16 GEMMs with f32 accumulation");
  if (config.trainer().precision() == config::Precision::tf32 && setup.device.is_cpu())
    notes.push_back("precision tf32 changes nothing on the cpu (it is for a GPU's tensor cores)");
  const std::optional<checkpoint::LoadedCheckpoint> resumed = find_resume_point(config, checkpoints, notes, group);
  std::optional<int64_t> resumed_step;
  if (resumed) {
    setup.model->load_state_dict(resumed->model, /*strict=*/true);
    resumed_step = resumed->state.step;
    notes.push_back(fmt::format("resumed from {} (step {}, saved by {} rank{}, ZeRO stage {})", resumed->path.string(),
                                resumed->state.step, resumed->state.world, resumed->state.world > 1 ? "s" : "",
                                resumed->state.zero_stage));
  }
  // Rank 0 makes the run directory; the others then add their lines to its train.log.
  std::unique_ptr<train::RunDirectory> run;
  if (rank == 0) run = std::make_unique<train::RunDirectory>(setup.run_dir, /*writer=*/true, rank, resumed_step);
  if (world > 1) group.barrier()->wait();
  if (rank != 0) run = std::make_unique<train::RunDirectory>(setup.run_dir, /*writer=*/false, rank);
  run->write_resolved_config(config::to_yaml(config));  // resuming rewrites it: the config may change
  run->log(fmt::format("rank {} of {} on {} (local rank {} of {}), {} threads, {} process group{}", rank, world,
                       group.host_name(), group.local_rank(), group.local_size(), cpu::num_threads(),
                       group.backend_name(),
                       &gradient_group != &group
                           ? fmt::format(", gradients over {} on {}", gradient_group.backend_name(), setup.device.str())
                           : std::string()));
  Parallelism parallelism = make_parallelism(config, setup, group, gradient_group);
  if (resumed) {
    restore_optimizer(*resumed, *setup.model, *setup.optimizer, parallelism.zero.get());
    if (setup.dropout_generator) setup.dropout_generator->set_offset(resumed->state.dropout_offset);
  }
  if (rank == 0) {
    const std::string header = fmt::format(
        "run {} in {}: {}; train {} samples of {}, eval {}; {} steps of {} samples over {} rank{} x {} thread{}{}",
        config.name(), setup.run_dir.string(), setup.model_description, setup.train_set->size(),
        setup.train_set->describe(),
        setup.eval_set ? fmt::format("{} samples", setup.eval_set->size()) : std::string("none"), setup.trainer.steps,
        config.data().batch_size(), world, world > 1 ? "s" : "", cpu::num_threads(), cpu::num_threads() > 1 ? "s" : "",
        parallelism.description);
    run->log(header);
    fmt::print("{}\n", header);
    for (const std::string& note : notes) {
      run->log(note);
      fmt::print("{}\n", note);
    }
  }
  train::Trainer trainer(*setup.model, *setup.optimizer, *setup.schedule, *setup.train_loader,
                         setup.eval_loader.get(), *run, setup.trainer,
                         {&group, parallelism.data_parallel.get(), parallelism.exact_sum.get(), parallelism.zero.get()});
  const std::string config_yaml = config::to_yaml(config);
  trainer.set_checkpointing(config.checkpoint().every_steps(), [&](int64_t step, const data::LoaderPosition& next) {
    const auto start = std::chrono::steady_clock::now();
    const checkpoint::TrainingState state{step,
                                          next,
                                          setup.dropout_generator ? setup.dropout_generator->offset() : 0,
                                          setup.optimizer->step_count(),
                                          world,
                                          config.distributed().zero_stage()};
    const checkpoint::CheckpointSource source{setup.model.get(), setup.optimizer.get(), parallelism.zero.get(), &group,
                                              config_yaml,
                                              config.checkpoint().format() == config::CheckpointFormat::hdf5
                                                  ? checkpoint::CheckpointFormat::hdf5
                                                  : checkpoint::CheckpointFormat::safetensors};
    const auto dir = checkpoint::save_checkpoint(checkpoints, state, source, config.checkpoint().keep_last());
    run->log(fmt::format("checkpoint at step {} committed: {} ({:.2f} s)", step, dir.string(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  });
  if (resumed) trainer.resume_from(resumed->state.step, resumed->state.position);
  trainer.set_stop_check([&group, &signals] { return stop_requested_anywhere(group, signals); });
  const train::TrainSummary summary = trainer.run();
  run->log(memory_report(*setup.model, *setup.optimizer, parallelism));
  if (summary.stopped_at > 0) {
    const std::string line = fmt::format(
        "stopped by {} after step {}: its checkpoint is committed; exiting with status {} so the job is requeued "
        "(resume=auto continues it)",
        signals.received() != 0 ? strsignal(signals.received()) : "a signal to another rank", summary.stopped_at, kRequeueExitStatus);
    run->log(line);
    if (rank == 0) fmt::print("{}\n", line);
    throw StoppedForRequeue{};
  }
}

void train_in_world(const config::ExperimentConfig& config, comm::ProcessGroup& group,
                    const comm::ProcessGroupOptions& options, const StopSignals& signals) {
  // Refused before anything loads: a backend that cannot carry this device's gradients.
  // Reproducible mode sums gradients through the host group, so without ZeRO's buckets it
  // needs no device group (and takes MPI with a device); NCCL on the cpu is refused still.
  const auto& d = config.distributed();
  const Device device = Device::parse(config.trainer().device());
  const bool host_sums = d.reproducible() && d.zero_stage() == 0;
  const bool device_gradients =
      host_sums ? (device.is_cpu() && gradients_on_device(d.backend(), device, group.size()))
                : gradients_on_device(d.backend(), device, group.size(), /*sharded=*/d.zero_stage() > 0);
  RunSetup setup = make_run_setup(config, /*for_training=*/true, group.world());
  // Made before the trainer and DataParallel, so it outlives every op they issue.
  std::unique_ptr<comm::ProcessGroup> device_group;
  if (device_gradients) device_group = comm::make_device_process_group(group, setup.device, options);
  try {
    train_run(config, setup, group, device_group ? *device_group : group, signals);
  } catch (const std::exception& e) {
    // The other ranks may never join this rank's last collectives: stop them now rather
    // than wait in the group's destructor (train() then ends the job).
    if (device_group) comm::abort_device_communication(*device_group, e.what());
    throw;
  }
}

void train(const ConfigArguments& arguments) {
  const auto config = load_or_print(arguments);
  if (!config) return;
  const StopSignals signals;  // before MPI and OpenMP start their threads
  comm::ProcessGroupOptions options;
  options.timeout_seconds = config->distributed().timeout_s();
  options.trace_capacity = static_cast<size_t>(config->distributed().trace_depth());
  const std::unique_ptr<comm::ProcessGroup> group = comm::make_process_group(options);
  try {
    train_in_world(*config, *group, options, signals);
  } catch (const std::exception& e) {
    // One rank's error ends every rank, so none waits forever in a collective.
    if (group->size() > 1) group->abort_job(e.what());
    throw;
  }
}

// The weights a .safetensors file, a checkpoint directory or a run directory (its newest
// intact checkpoint) holds.
NamedTensors weights_of(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return io::load_safetensors(path).tensors;
  std::vector<std::string> skipped;
  const std::filesystem::path dir = checkpoint::resolve_checkpoint(path, skipped);
  for (const std::string& why : skipped) fmt::print(stderr, "skipped {}\n", why);  // stdout may be --json
  return checkpoint::load_checkpoint(dir).model;
}

void evaluate(const ConfigArguments& arguments, const std::string& checkpoint, bool as_json) {
  const auto config = load_or_print(arguments);
  if (!config) return;
  RunSetup setup = make_run_setup(*config, /*for_training=*/false);
  TORUS_CHECK(setup.eval_loader != nullptr, "eval: the config has no eval set (data.eval_fraction is 0 and no "
                                            "data.eval_path)");
  setup.model->load_state_dict(weights_of(checkpoint), /*strict=*/true);
  setup.model->eval();
  const train::Task task = config->model().kind() == config::ModelKind::gpt ? train::Task::language_model
                                                                           : train::Task::classification;
  const AutocastGuard precision(setup.trainer.autocast);  // as the trainer's own evaluations (TF32: setup)
  const train::EvalResult result = train::evaluate(*setup.model, *setup.eval_loader, task);
  if (as_json) {
    nlohmann::ordered_json doc = {{"checkpoint", checkpoint}, {"eval_loss", result.loss},
                                  {"eval_accuracy", result.accuracy}, {"samples", result.samples}};
    if (task == train::Task::language_model) doc["eval_perplexity"] = std::exp(result.loss);
    fmt::print("{}\n", doc.dump());
    return;
  }
  fmt::print("{}: eval loss {:.6f}, accuracy {:.2f}% over {} samples of {}{}\n", checkpoint, result.loss,
             100 * result.accuracy, result.samples, setup.eval_set->describe(),
             task == train::Task::language_model ? fmt::format(", perplexity {:.3f}", std::exp(result.loss)) : "");
}

}  // namespace

void add_train_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand("train", "Train in this process world (1 process, or every rank of an "
                                                  "mpirun/srun job)");
  auto arguments = std::make_shared<ConfigArguments>();
  add_config_arguments(*command, *arguments);
  command->callback([arguments] { train(*arguments); });
}

void add_eval_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand("eval", "Loss and metrics of given weights on the config's eval set");
  auto arguments = std::make_shared<ConfigArguments>();
  auto checkpoint = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  add_config_arguments(*command, *arguments, /*print_flag=*/false);
  command->add_option("--checkpoint", *checkpoint, "weights: a .safetensors file (a run's final.safetensors), a checkpoint directory, or a run "
                                    "directory (its newest intact checkpoint)")
      ->required();
  command->add_flag("--json", *as_json, "print one JSON object");
  command->callback([=] { evaluate(*arguments, *checkpoint, *as_json); });
}

}  // namespace torus::cli
