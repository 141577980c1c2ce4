// ddp_overlap_bench: how much of the gradient all-reduce a data-parallel step hides behind
// backward. Runs the training step of `torus train` (forward, backward with the bucket
// all-reduces started from the gradient hooks, finish_gradients, optimizer step) on every
// rank for a config, then over the timed steps:
//   exposed      the time finish_gradients blocked waiting for the all-reduces
//                (DataParallel::communication_stats)
//   busy         the time those all-reduces ran on the communication thread, from the
//                start and end stamps of the process group's op trace (1 ms resolution)
//   hidden       1 - exposed / busy; over all ranks, 1 - (sum of exposed) / (sum of busy)
//   standalone   the same buckets all-reduced back to back with nothing else running, for
//                comparison with busy (cores shared with backward slow the all-reduces down)
// A rank that is ahead starts an all-reduce before the other has issued it, and waits for it
// inside MPI: busy includes that wait (hidden when backward covers it), and exposed includes
// waiting for the slower rank to finish backward. Validation: the losses are finite and the
// replicas hold the same parameters at the end. Rank 0 prints one JSON line with every
// rank's figures.
//
//   mpirun --oversubscribe --allow-run-as-root -np 2 ddp_overlap_bench CONFIG [--warmup N] [--steps N]
//          [key=value config overrides...]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "rank_values.h"
#include "distributed/comm/world.h"
#include "distributed/parallel/data_parallel.h"
#include "distributed/train/trainer.h"
#include "framework/tensor/random.h"
#include "kernels/cpu/parallel.h"
#include "launcher/config.h"
#include "launcher/train_setup.h"

namespace torus {
namespace {

using bench::gather_values;
using bench::json_array;
using bench::json_number;
using bench::json_string;
using bench::seconds_now;

// Seconds the all-reduces with sequence numbers in [first, end) ran on the communication
// thread, from the trace's text (OpTrace::format: seq op dtype bytes queued started ended
// state, times as "1.234s"). Throws unless exactly `expected` such ops are found, done.
double allreduce_busy_seconds(const std::string& trace, uint64_t first, uint64_t end, int64_t expected) {
  std::istringstream lines(trace);
  std::string line;
  double busy = 0;
  int64_t found = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    uint64_t sequence = 0;
    std::string op, dtype, bytes, queued, started, ended, state;
    if (!(fields >> sequence >> op >> dtype >> bytes >> queued >> started >> ended >> state)) continue;
    if (sequence < first || sequence >= end || !op.starts_with("all_reduce")) continue;
    TORUS_CHECK(state == "done" && started.ends_with('s') && ended.ends_with('s'),
                "ddp_overlap_bench: cannot read the trace line '{}'", line);
    busy += std::stod(ended) - std::stod(started);
    ++found;
  }
  TORUS_CHECK(found == expected, "ddp_overlap_bench: the op trace holds {} all-reduces of the timed steps, expected {}",
              found, expected);
  return busy;
}

// Seconds per round of all-reducing tensors of `bucket_bytes` the way DataParallel does
// (all started, then all waited for), nothing else running; the slowest rank's, median of `rounds`.
double standalone_seconds(comm::ProcessGroup& group, const std::vector<int64_t>& bucket_bytes, int rounds) {
  std::vector<Tensor> buckets;
  Generator generator(7 + static_cast<uint64_t>(group.rank()));
  for (int64_t bytes : bucket_bytes) buckets.push_back(Tensor::randn({bytes / 4}, generator));
  auto round = [&] {
    std::vector<comm::WorkPtr> pending;
    for (const Tensor& b : buckets) pending.push_back(group.all_reduce(b, comm::ReduceOp::average));
    for (auto& w : pending) w->wait();
  };
  for (int i = 0; i < 3; ++i) round();
  std::vector<double> seconds;
  for (int i = 0; i < rounds; ++i) {
    group.barrier()->wait();
    const double start = seconds_now();
    round();
    seconds.push_back(seconds_now() - start);
  }
  return bench::median_of(seconds);
}

double sum_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Sum of squares of every parameter, in f64: the same on every rank when the replicas agree.
double replica_checksum(const Layer& model) {
  double sum = 0;
  for (const Tensor& p : model.parameters()) {
    const Tensor values = p.detach().contiguous().to(DType::f64);
    const double* v = values.data<double>();
    for (int64_t i = 0; i < values.numel(); ++i) sum += v[i] * v[i];
  }
  return sum;
}

int run(const bench::ConfigRunOptions& o, comm::ProcessGroup* group) {
  const int rank = group->rank(), world = group->size();
  TORUS_CHECK(world >= 2, "ddp_overlap_bench: {} rank; start it with mpirun -np 2 (or more)", world);
  const config::ExperimentConfig config = config::load(o.config, o.overrides);
  cli::RunSetup setup = cli::make_run_setup(config, /*for_training=*/true, rank, world);
  parallel::DataParallel data_parallel(*setup.model, *group,
                                       parallel::DataParallelOptions{config.distributed().bucket_mb()});
  data_parallel.broadcast_state();
  const train::Task task = config.model().kind() == config::ModelKind::gpt ? train::Task::language_model
                                                                          : train::Task::classification;
  setup.model->train();
  std::vector<double> losses;
  int64_t items = 0;  // samples, or tokens for language models, on this rank
  int64_t steps_done = 0;
  auto step = [&] {
    setup.optimizer->set_lr(setup.schedule->lr(steps_done++));
    const data::Batch batch = setup.train_loader->next();
    data_parallel.prepare_backward(true);
    train::BatchLoss b = train::batch_loss(*setup.model, batch, task, false);
    losses.push_back(b.loss.item());
    b.loss.backward();
    data_parallel.finish_gradients();
    setup.optimizer->step();
    setup.optimizer->zero_grad();
    items += task == train::Task::language_model ? batch.targets.numel() : batch.inputs.size(0);
  };

  for (int i = 0; i < o.warmup; ++i) step();
  group->barrier()->wait();
  const parallel::CommStats before = data_parallel.communication_stats();
  const uint64_t first_sequence = group->next_sequence();
  items = 0;
  const double start = seconds_now();
  for (int i = 0; i < o.steps; ++i) step();
  const double elapsed = seconds_now() - start;
  const parallel::CommStats timed = data_parallel.communication_stats() - before;
  const uint64_t end_sequence = group->next_sequence();
  const double busy = allreduce_busy_seconds(group->trace(), first_sequence, end_sequence, timed.buckets_launched);
  const double standalone = standalone_seconds(*group, data_parallel.bucket_bytes(), o.steps);
  bool finite = true;
  for (double loss : losses) finite = finite && std::isfinite(loss);

  const double n = o.steps;
  const std::vector<double> exposed_ms = gather_values(*group, timed.exposed_wait_s / n * 1e3);
  const std::vector<double> busy_ms = gather_values(*group, busy / n * 1e3);
  const std::vector<double> backward_ms = gather_values(*group, timed.backward_after_launch_s / n * 1e3);
  const std::vector<double> standalone_ms = gather_values(*group, standalone * 1e3);
  const std::vector<double> step_ms = gather_values(*group, elapsed / n * 1e3);
  const std::vector<double> items_per_rank = gather_values(*group, static_cast<double>(items));
  const std::vector<double> all_finite = gather_values(*group, finite ? 1 : 0);
  const std::vector<double> checksums = gather_values(*group, replica_checksum(*setup.model));
  std::vector<double> hidden;
  for (int r = 0; r < world; ++r) hidden.push_back(busy_ms[r] > 0 ? 1 - exposed_ms[r] / busy_ms[r] : 0);
  // Every rank reaches the same verdict from the same gathered figures.
  if (*std::min_element(all_finite.begin(), all_finite.end()) == 0) {
    if (rank == 0) std::fprintf(stderr, "ddp_overlap_bench: a loss is not finite\n");
    return 1;
  }
  const auto [low, high] = std::minmax_element(checksums.begin(), checksums.end());
  if (*high - *low > 1e-9 * std::abs(*high)) {
    if (rank == 0) std::fprintf(stderr, "ddp_overlap_bench: the replicas differ after training\n");
    return 1;
  }
  if (rank != 0) return 0;
  std::fprintf(stderr, "rank 0, timed steps: %s\n", timed.describe().c_str());
  const double total_items = sum_of(items_per_rank);
  const double slowest_ms = *std::max_element(step_ms.begin(), step_ms.end());
  std::printf(
      "{\"suite\": \"ddp_overlap\", \"name\": \"torus_ddp_overlap\", \"config\": %s, \"threads\": %d, "
      "\"ranks\": %d, \"warmup_steps\": %d, \"timed_steps\": %d, \"buckets\": %lld, \"bucket_mb\": %s, "
      "\"bytes_per_step\": %s, \"buckets_launched_late\": %lld, \"hidden_fraction\": %s, "
      "\"hidden_fraction_per_rank\": %s, \"exposed_ms_per_step\": %s, \"allreduce_busy_ms_per_step\": %s, "
      "\"standalone_allreduce_ms_per_step\": %s, \"backward_after_first_launch_ms_per_step\": %s, "
      "\"step_ms\": %s, \"throughput\": %s, \"unit\": %s, \"trace_resolution_ms\": 1, \"first_loss\": %s, "
      "\"last_loss\": %s}\n",
      json_string(config.name()).c_str(), cpu::num_threads(), world, o.warmup, o.steps,
      static_cast<long long>(data_parallel.bucket_count()), json_number(config.distributed().bucket_mb()).c_str(),
      json_number(static_cast<double>(timed.bytes_reduced) / n).c_str(),
      static_cast<long long>(timed.buckets_launched_late), json_number(1 - sum_of(exposed_ms) / sum_of(busy_ms)).c_str(),
      json_array(hidden).c_str(), json_array(exposed_ms).c_str(), json_array(busy_ms).c_str(),
      json_array(standalone_ms).c_str(), json_array(backward_ms).c_str(), json_array(step_ms).c_str(),
      json_number(total_items / (slowest_ms * n * 1e-3)).c_str(),
      json_string(task == train::Task::language_model ? "tokens/s" : "samples/s").c_str(),
      json_number(losses.front()).c_str(), json_number(losses.back()).c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace torus

int main(int argc, char** argv) {
  const torus::bench::ConfigRunOptions options =
      torus::bench::parse_config_run(argc, argv, 12,
                                     "usage: mpirun -np N %s CONFIG [--warmup N] [--steps N] [key=value ...]\n");
  std::unique_ptr<torus::comm::ProcessGroup> group;
  try {
    torus::comm::ProcessGroupOptions group_options;
    group_options.trace_capacity = size_t{1} << 16;  // every op of the timed steps stays in the trace
    group = torus::comm::make_process_group(group_options);
    return torus::run(options, group.get());
  } catch (const std::exception& e) {
    // One rank's error ends every rank, so none waits forever in a collective.
    if (group && group->size() > 1) group->abort_job(std::string("ddp_overlap_bench: ") + e.what());
    std::fprintf(stderr, "ddp_overlap_bench: %s\n", e.what());
    return 1;
  }
}
