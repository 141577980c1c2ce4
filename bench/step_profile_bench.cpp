// step_profile_bench: where one rank's training step spends its time, as the scaling model
// (bench/scaling_model.py) takes it: forward, backward, optimizer, and for every parameter
// the moment in backward its gradient is final (the hook DataParallel launches buckets
// from). Nothing is communicated: under mpirun every rank trains its own replica, so the
// figures are the compute time of a rank sharing the node with N-1 others (memory
// bandwidth, caches, cores), which the model adds communication to.
//
//   step_profile_bench CONFIG [--warmup N] [--steps N] [key=value config overrides...]
//   mpirun -np N step_profile_bench CONFIG ...   (ranks start the timed steps together)
//
// Rank 0 prints one JSON line: the slowest rank's medians over the timed steps (all of its
// figures, so forward + backward + optimizer is one rank's step), each
// parameter's registration index, name, element count and gradient-ready time, and the
// gradient buckets DataParallel makes of them (distributed.bucket_mb), so the model's
// bucketing can be checked against the real one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "rank_values.h"
#include "distributed/comm/world.h"
#include "distributed/parallel/data_parallel.h"
#include "distributed/train/trainer.h"
#include "kernels/cpu/parallel.h"
#include "launcher/config.h"
#include "launcher/train_setup.h"

namespace torus {
namespace {

using bench::gather_values;
using bench::json_array;
using bench::json_number;
using bench::json_string;
using bench::median_of;
using bench::seconds_now;

struct StepTimes {
  double forward = 0, backward = 0, optimizer = 0, step = 0;
  std::vector<double> ready;  // per parameter, seconds after backward started
};

int run(const bench::ConfigRunOptions& o, comm::ProcessGroup& group) {
  const config::ExperimentConfig config = config::load(o.config, o.overrides);
  // world 1: each rank holds the whole per-rank batch of a 1-rank run of this config.
  cli::RunSetup setup = cli::make_run_setup(config, /*for_training=*/true, 0, 1);
  const train::Task task = config.model().kind() == config::ModelKind::gpt ? train::Task::language_model
                                                                          : train::Task::classification;
  // The buckets of a data-parallel run of this config; the object goes before timing (its
  // gradient hooks stay registered but do nothing once it is gone).
  const std::vector<int64_t> buckets =
      parallel::DataParallel(*setup.model, group, parallel::DataParallelOptions{config.distributed().bucket_mb()})
          .bucket_bytes();
  const NamedTensors parameters = setup.model->named_parameters();
  std::vector<double> ready(parameters.size(), 0);
  double backward_start = 0;
  for (size_t i = 0; i < parameters.size(); ++i)
    parameters[i].second.register_grad_ready_hook(
        [&ready, &backward_start, i](Tensor&) { ready[i] = seconds_now() - backward_start; });

  setup.model->train();
  std::vector<double> losses;
  int64_t steps_done = 0, items = 0;
  auto step = [&] {
    StepTimes t;
    const double start = seconds_now();
    setup.optimizer->set_lr(setup.schedule->lr(steps_done++));
    const data::Batch batch = setup.train_loader->next();
    train::BatchLoss b = train::batch_loss(*setup.model, batch, task, false);
    losses.push_back(b.loss.item());
    backward_start = seconds_now();
    t.forward = backward_start - start;
    b.loss.backward();
    const double optimizer_start = seconds_now();
    t.backward = optimizer_start - backward_start;
    setup.optimizer->step();
    setup.optimizer->zero_grad();
    const double end = seconds_now();
    t.optimizer = end - optimizer_start;
    t.step = end - start;
    t.ready = ready;
    items = task == train::Task::language_model ? batch.targets.numel() : batch.inputs.size(0);
    return t;
  };

  for (int i = 0; i < o.warmup; ++i) step();
  group.barrier()->wait();
  std::vector<StepTimes> timed;
  for (int i = 0; i < o.steps; ++i) timed.push_back(step());

  auto median_over_steps = [&](auto field) {
    std::vector<double> v;
    for (const StepTimes& t : timed) v.push_back(field(t));
    return median_of(v);
  };
  // The rank with the longest median step, and its figures.
  const std::vector<double> steps = gather_values(group, median_over_steps([](const StepTimes& t) { return t.step; }));
  const auto slowest_rank = static_cast<size_t>(std::max_element(steps.begin(), steps.end()) - steps.begin());
  auto of_slowest = [&](double mine) { return gather_values(group, mine)[slowest_rank]; };
  const double forward = of_slowest(median_over_steps([](const StepTimes& t) { return t.forward; }));
  const double backward = of_slowest(median_over_steps([](const StepTimes& t) { return t.backward; }));
  const double optimizer = of_slowest(median_over_steps([](const StepTimes& t) { return t.optimizer; }));
  const double step_s = steps[slowest_rank];
  std::vector<double> ready_median;
  for (size_t i = 0; i < parameters.size(); ++i)
    ready_median.push_back(of_slowest(median_over_steps([i](const StepTimes& t) { return t.ready[i]; })));
  bool finite = true;
  for (double loss : losses) finite = finite && std::isfinite(loss);
  const std::vector<double> all_finite = gather_values(group, finite ? 1 : 0);
  if (*std::min_element(all_finite.begin(), all_finite.end()) == 0) {
    if (group.rank() == 0) std::fprintf(stderr, "step_profile_bench: a loss is not finite\n");
    return 1;
  }
  if (group.rank() != 0) return 0;

  std::string params = "[";
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i].second;
    params += (i ? ", " : "") + std::string("{\"index\": ") + std::to_string(i) +
              ", \"name\": " + json_string(parameters[i].first) + ", \"numel\": " + std::to_string(p.numel()) +
              ", \"bytes\": " + std::to_string(p.nbytes()) + ", \"ready_s\": " + json_number(ready_median[i]) + "}";
  }
  params += "]";
  std::printf(
      "{\"suite\": \"step_profile\", \"name\": \"torus_step_profile\", \"config\": %s, \"threads\": %d, "
      "\"ranks\": %d, \"colocated_ranks\": %d, \"warmup_steps\": %d, \"timed_steps\": %d, "
      "\"items_per_step\": %lld, \"unit\": %s, \"forward_s\": %s, \"backward_s\": %s, \"optimizer_s\": %s, "
      "\"step_s\": %s, \"step_s_per_step\": %s, \"first_loss\": %s, \"last_loss\": %s, \"bucket_mb\": %s, "
      "\"dp_bucket_bytes\": %s, \"parameters\": %s}\n",
      json_string(config.name()).c_str(), cpu::num_threads(), 1, group.size(), o.warmup, o.steps,
      static_cast<long long>(items), json_string(task == train::Task::language_model ? "tokens" : "samples").c_str(),
      json_number(forward).c_str(), json_number(backward).c_str(), json_number(optimizer).c_str(),
      json_number(step_s).c_str(), json_array([&] {
        std::vector<double> v;
        for (const StepTimes& t : timed) v.push_back(t.step);
        return v;
      }()).c_str(),
      json_number(losses.front()).c_str(), json_number(losses.back()).c_str(),
      json_number(config.distributed().bucket_mb()).c_str(),
      [&] {
        std::string out = "[";
        for (size_t i = 0; i < buckets.size(); ++i) out += (i ? ", " : "") + std::to_string(buckets[i]);
        return out + "]";
      }().c_str(),
      params.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace torus

int main(int argc, char** argv) {
  const torus::bench::ConfigRunOptions options =
      torus::bench::parse_config_run(argc, argv, 10, "usage: %s CONFIG [--warmup N] [--steps N] [key=value ...]\n");
  std::unique_ptr<torus::comm::ProcessGroup> group;
  try {
    group = torus::comm::make_process_group();
    return torus::run(options, *group);
  } catch (const std::exception& e) {
    if (group && group->size() > 1) group->abort_job(std::string("step_profile_bench: ") + e.what());
    std::fprintf(stderr, "step_profile_bench: %s\n", e.what());
    return 1;
  }
}
