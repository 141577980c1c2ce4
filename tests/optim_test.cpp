// Optimizers without PyTorch: checkpoint state (names, round trip through safetensors,
// validation), allocation-free steady-state steps, schedules in closed form, the factory,
// and errors.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "framework/io/safetensors.h"
#include "framework/nn/models.h"
#include "framework/ops/ops.h"
#include "framework/optim/clip_grad.h"
#include "framework/optim/factory.h"
#include "framework/optim/schedule.h"
#include "framework/tensor/allocator.h"
#include "framework/tensor/random.h"
#include "nn_torch_support.h"
#include "support/error_message.h"

namespace torus {
namespace {

using optim::OptimizerKind;

using test::contains;
using test::error_of;

NamedTensors fresh_parameters(uint64_t seed) {
  Generator gen(seed);
  return {{"fc.weight", Tensor::randn({6, 4}, gen).set_requires_grad(true)},
          {"fc.bias", Tensor::randn({6}, gen).set_requires_grad(true)}};
}

NamedTensors copies(const NamedTensors& params) {
  NamedTensors out;
  for (const auto& [name, p] : params) out.emplace_back(name, p.detach().clone().set_requires_grad(true));
  return out;
}

// Gives every parameter the gradient d/dp sum(p * p * k) = 2 k p, k depending on the step.
void set_gradients(const NamedTensors& params, int step) {
  for (const auto& [_, p] : params) p.set_grad(p.detach() * (0.5 + 0.1 * step));
}

const std::vector<optim::OptimizerOptions> kEveryOptimizer{
    {.kind = OptimizerKind::sgd, .lr = 0.1, .momentum = 0.9, .nesterov = true},
    {.kind = OptimizerKind::adam, .lr = 0.01, .weight_decay = 0.1, .amsgrad = true},
    {.kind = OptimizerKind::adamw, .lr = 0.01},
};

TEST(OptimizerState, IsNamedByParameterAndField) {
  const NamedTensors params = fresh_parameters(1);
  auto adam = optim::make_optimizer(params, {.kind = OptimizerKind::adam});
  EXPECT_TRUE(adam->named_state().empty());  // nothing before the first step
  set_gradients(params, 0);
  adam->step();
  std::vector<std::string> names;
  for (const auto& [name, _] : adam->named_state()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc.weight.step", "fc.weight.exp_avg", "fc.weight.exp_avg_sq",
                                             "fc.bias.step", "fc.bias.exp_avg", "fc.bias.exp_avg_sq"}));
  EXPECT_EQ(adam->step_count(), 1);
  // A plain list is numbered, as torch.optim numbers its state.
  optim::Sgd sgd(std::vector<Tensor>{params[0].second}, {.lr = 0.1, .momentum = 0.5});
  sgd.step();
  EXPECT_EQ(sgd.named_state().at(0).first, "0.momentum_buffer");
}

// Saving after 3 steps and resuming in a new optimizer gives the same next 3 steps, bit
// for bit, through a safetensors file as a checkpoint holds it.
TEST(OptimizerState, RoundTripsThroughSafetensorsAndResumesExactly) {
  const test::ScratchDir dir("optim_state");
  for (const optim::OptimizerOptions& options : kEveryOptimizer) {
    const NamedTensors params = fresh_parameters(2);
    auto original = optim::make_optimizer(params, options);
    for (int s = 0; s < 3; ++s) {
      set_gradients(params, s);
      original->step();
    }
    io::save_safetensors(dir.file("state.safetensors"), original->named_state());
    const NamedTensors resumed_params = copies(params);
    auto resumed = optim::make_optimizer(resumed_params, options);
    resumed->load_state(io::load_safetensors(dir.file("state.safetensors")).tensors, original->step_count());
    EXPECT_EQ(resumed->step_count(), 3);
    for (int s = 3; s < 6; ++s) {
      set_gradients(params, s);
      set_gradients(resumed_params, s);
      original->step();
      resumed->step();
    }
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_EQ(resumed_params[i].second.to_vector<float>(), params[i].second.to_vector<float>())
          << static_cast<int>(options.kind) << " " << params[i].first;
  }
}

TEST(OptimizerState, LoadingRejectsWhatDoesNotFit) {
  const NamedTensors params = fresh_parameters(3);
  auto adam = optim::make_optimizer(params, {.kind = OptimizerKind::adamw});
  set_gradients(params, 0);
  adam->step();
  const NamedTensors good = adam->named_state();
  auto with = [&](const std::string& key, Tensor value) {
    NamedTensors s = good;
    s.emplace_back(key, value);
    return s;
  };
  EXPECT_TRUE(contains(error_of([&] { adam->load_state(with("fc.gamma.exp_avg", Tensor::zeros({6})), 1); }),
                       "'fc.gamma.exp_avg' names no parameter"));
  EXPECT_TRUE(contains(error_of([&] { adam->load_state(with("fc.bias.momentum", Tensor::zeros({6})), 1); }),
                       "unknown field 'momentum'"));
  NamedTensors wrong_shape = good;
  wrong_shape[1].second = Tensor::zeros({4, 6});
  EXPECT_TRUE(contains(error_of([&] { adam->load_state(wrong_shape, 1); }), "[4, 6]"));
  NamedTensors partial = good;
  partial.erase(partial.begin() + 1);  // fc.weight.exp_avg
  EXPECT_TRUE(contains(error_of([&] { adam->load_state(partial, 1); }), "'fc.weight' has 2 of its 3"));
  EXPECT_TRUE(contains(error_of([&] { adam->load_state(with(good[0].first, good[0].second), 1); }), "twice"));
  // A rejected load leaves the state as it was.
  EXPECT_EQ(adam->named_state().size(), good.size());
  EXPECT_NO_THROW(adam->load_state({}, 0));  // every parameter starts fresh
  EXPECT_TRUE(adam->named_state().empty());
}

// After the first step (which allocates the state), steps and clipping allocate nothing.
TEST(Optimizer, SteadyStateStepsAndClippingAllocateNothing) {
  for (const optim::OptimizerOptions& options : kEveryOptimizer) {
    Generator gen(4);
    NamedTensors params{{"big", Tensor::randn({300000}, gen).set_requires_grad(true)},
                        {"small", Tensor::randn({10}, gen).set_requires_grad(true)}};
    std::vector<Tensor> list;
    for (const auto& [_, p] : params) list.push_back(p);
    set_gradients(params, 0);
    auto optimizer = optim::make_optimizer(params, options);
    optimizer->step();
    const AllocatorStats before = HostAllocator::instance().stats();
    for (int s = 0; s < 3; ++s) {
      optim::clip_grad_norm(list, 1.0);
      optimizer->step();
    }
    const AllocatorStats after = HostAllocator::instance().stats();
    EXPECT_EQ(after.cache_hits, before.cache_hits) << static_cast<int>(options.kind);
    EXPECT_EQ(after.system_allocations, before.system_allocations) << static_cast<int>(options.kind);
    EXPECT_EQ(after.allocated_bytes, before.allocated_bytes) << static_cast<int>(options.kind);
  }
}

TEST(Optimizer, SkipsParametersWithoutGradientsAndCountsTheirOwnSteps) {
  const NamedTensors params = fresh_parameters(5);
  optim::Adam adam(params, {.lr = 0.1});
  set_gradients(params, 0);
  adam.step();
  params[1].second.zero_grad();
  const auto bias = params[1].second.to_vector<float>();
  adam.step();
  EXPECT_EQ(params[1].second.to_vector<float>(), bias);
  const NamedTensors state = adam.named_state();
  EXPECT_EQ(state[0].second.item(), 2);  // fc.weight.step
  EXPECT_EQ(state[3].second.item(), 1);  // fc.bias.step
}

TEST(Optimizer, RejectsTiedDuplicatesNonLeavesAndMismatchedGradients) {
  const Tensor p = Tensor::zeros({3}).set_requires_grad(true);
  EXPECT_TRUE(contains(error_of([&] { optim::Sgd({{"a", p}, {"b", p}}, {}); }), "tied weights belong once"));
  EXPECT_TRUE(contains(error_of([&] { optim::Sgd({{"a", p * 2.0}}, {}); }), "'a'"));
  EXPECT_TRUE(contains(error_of([&] { optim::Sgd({{"a", Tensor::zeros({3})}}, {}); }), "requires grad"));
  optim::AdamW adamw(NamedTensors{{"w", p}}, {});
  p.set_grad(Tensor::zeros({4}));
  EXPECT_TRUE(contains(error_of([&] { adamw.step(); }), "gradient of 'w'"));
  EXPECT_TRUE(contains(error_of([&] { adamw.set_lr(-1); }), "-1"));
}

TEST(Optimizer, BadOptionsAreErrorsNamingTheOptimizer) {
  const NamedTensors params = fresh_parameters(6);
  EXPECT_TRUE(contains(error_of([&] { optim::Sgd(params, {.momentum = 0, .nesterov = true}); }), "Nesterov"));
  EXPECT_TRUE(contains(error_of([&] { optim::Adam(params, {.beta1 = 1.0}); }), "Adam: betas"));
  EXPECT_TRUE(contains(error_of([&] { optim::AdamW(params, {.eps = -1}); }), "AdamW: eps"));
  EXPECT_TRUE(contains(error_of([&] { optim::AdamW(params, {.weight_decay = -0.1}); }), "weight_decay"));
}

TEST(Factory, BuildsEachKindWithTorchDefaults) {
  const NamedTensors params = fresh_parameters(7);
  auto adamw = optim::make_optimizer(params, {.kind = OptimizerKind::adamw, .lr = 3e-4});
  ASSERT_NE(dynamic_cast<optim::AdamW*>(adamw.get()), nullptr);
  EXPECT_EQ(dynamic_cast<optim::AdamW*>(adamw.get())->options().weight_decay, 0.01);
  EXPECT_EQ(adamw->lr(), 3e-4);
  auto adam = optim::make_optimizer(params, {.kind = OptimizerKind::adam});
  EXPECT_EQ(dynamic_cast<optim::Adam*>(adam.get())->options().weight_decay, 0.0);
  EXPECT_FALSE(dynamic_cast<optim::Adam*>(adam.get())->decoupled_weight_decay());
  auto sgd = optim::make_optimizer(params, {.kind = OptimizerKind::sgd, .momentum = 0.9});
  EXPECT_EQ(dynamic_cast<optim::Sgd*>(sgd.get())->options().momentum, 0.9);
}

// ---- Schedules ----

TEST(Schedule, WarmupCosineInClosedForm) {
  const optim::WarmupCosineLr s(1.0, 4, 14, 0.1);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.25);
  EXPECT_DOUBLE_EQ(s.lr(3), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(4), 1.0);
  EXPECT_NEAR(s.lr(9), 0.1 + 0.9 * 0.5, 1e-15);  // halfway through the decay
  EXPECT_NEAR(s.lr(14), 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(s.lr(1000), 0.1);
  const optim::WarmupCosineLr constant_after_warmup(2.0, 2, 5, 1.0);
  EXPECT_DOUBLE_EQ(constant_after_warmup.lr(1), 2.0);
  EXPECT_DOUBLE_EQ(constant_after_warmup.lr(4), 2.0);
}

TEST(Schedule, StepAndConstant) {
  const auto step = optim::make_schedule({.kind = optim::ScheduleKind::step, .step_size = 10, .gamma = 0.5}, 0.8);
  EXPECT_DOUBLE_EQ(step->lr(9), 0.8);
  EXPECT_DOUBLE_EQ(step->lr(10), 0.4);
  EXPECT_DOUBLE_EQ(step->lr(25), 0.2);
  EXPECT_DOUBLE_EQ(optim::make_schedule({}, 0.3)->lr(12345), 0.3);
}

TEST(Schedule, BadOptionsAreErrors) {
  using optim::ScheduleKind;
  EXPECT_TRUE(contains(error_of([] { optim::make_schedule({.kind = ScheduleKind::warmup_cosine, .warmup_steps = 10, .total_steps = 10}, 1.0); }),
                       "warmup_steps 10 and total_steps 10"));
  EXPECT_TRUE(contains(error_of([] { optim::make_schedule({.kind = ScheduleKind::step, .step_size = 0}, 1.0); }),
                       "step_size"));
  EXPECT_TRUE(contains(error_of([] { optim::ConstantLr(1.0).lr(-1); }), "step must be >= 0"));
}

// ---- Clipping ----

TEST(ClipGradNorm, ScalesOnlyAboveTheThresholdAndSkipsMissingGradients) {
  const Tensor a = Tensor::zeros({2}).set_requires_grad(true), b = Tensor::zeros({1}).set_requires_grad(true);
  const Tensor none = Tensor::zeros({5}).set_requires_grad(true);
  a.set_grad(Tensor::from_vector({3, 0}, {2}));
  b.set_grad(Tensor::from_vector({4}, {1}));
  EXPECT_DOUBLE_EQ(optim::clip_grad_norm({a, b, none}, 10.0), 5.0);
  EXPECT_EQ(b.grad().item(), 4.0);  // under the threshold: untouched
  EXPECT_DOUBLE_EQ(optim::clip_grad_norm({a, b, none}, 1.0), 5.0);
  EXPECT_NEAR(b.grad().item(), 4.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(optim::grad_norm({a, b}), 1.0, 1e-6);
  EXPECT_NEAR(optim::grad_norm({a, b}, optim::kInfNorm), 0.8, 1e-6);
  EXPECT_TRUE(contains(error_of([&] { optim::clip_grad_norm({a}, 0.0); }), "max_norm"));
}

// The coefficient kept as a tensor and applied as the optimizer reads each gradient gives
// the update of clip_grad_norm then step(), bit for bit, whether it clips or not, and leaves
// the gradients as they were.
TEST(ClipCoefficient, StepWithItIsClipThenStepBitForBit) {
  std::vector<optim::OptimizerOptions> every = kEveryOptimizer;
  every.push_back({.kind = OptimizerKind::sgd, .lr = 0.05, .weight_decay = 0.01, .momentum = 0.9, .dampening = 0.1});
  every.push_back({.kind = OptimizerKind::adam, .lr = 0.01, .weight_decay = 0.1});
  for (const optim::OptimizerOptions& options : every)
    for (const double max_norm : {0.5, 1e6}) {
      const NamedTensors clipped = fresh_parameters(7), scaled = copies(clipped);
      auto clip_then_step = optim::make_optimizer(clipped, options), step_scaled = optim::make_optimizer(scaled, options);
      std::vector<Tensor> clipped_list, scaled_list;
      for (size_t i = 0; i < clipped.size(); ++i) {
        clipped_list.push_back(clipped[i].second);
        scaled_list.push_back(scaled[i].second);
      }
      const std::string what = fmt::format("optimizer {} max_norm {}", static_cast<int>(options.kind), max_norm);
      for (int s = 0; s < 3; ++s) {
        set_gradients(clipped, s);
        set_gradients(scaled, s);
        const std::vector<float> given = scaled[0].second.grad().to_vector<float>();
        const double norm = optim::clip_grad_norm(clipped_list, max_norm);
        ASSERT_EQ(norm > max_norm, max_norm == 0.5) << what << ": norm " << norm;
        const Tensor coefficient = optim::clip_coefficient(scaled_list, max_norm);
        EXPECT_EQ(coefficient.item(), std::min(max_norm / (norm + 1e-6), 1.0)) << what << " step " << s;
        clip_then_step->step();
        step_scaled->step(coefficient);
        EXPECT_EQ(scaled[0].second.grad().to_vector<float>(), given) << what << ": the gradient is left as it was";
      }
      for (size_t i = 0; i < clipped.size(); ++i)
        EXPECT_EQ(scaled[i].second.to_vector<float>(), clipped[i].second.to_vector<float>())
            << what << " " << clipped[i].first;
    }
}

TEST(ClipCoefficient, FollowsTheNormThroughNonFiniteValues) {
  const Tensor a = Tensor::zeros({2}).set_requires_grad(true), b = Tensor::zeros({1}).set_requires_grad(true);
  const Tensor none = Tensor::zeros({5}).set_requires_grad(true);
  a.set_grad(Tensor::from_vector({3, 0}, {2}));
  b.set_grad(Tensor::from_vector({4}, {1}));
  const Tensor squared = optim::squared_grad_norm({a, b, none});
  EXPECT_EQ(squared.dtype(), DType::f64);  // the cpu sums in double, as grad_norm
  EXPECT_EQ(squared.item(), 25.0);
  EXPECT_EQ(optim::clip_coefficient({a, b, none}, 10.0).item(), 1.0);
  EXPECT_EQ(optim::clip_coefficient({a, b, none}, 1.0).item(), 1.0 / (5.0 + 1e-6));
  EXPECT_EQ(optim::squared_grad_norm({none}).item(), 0.0);  // no gradient: nothing to clip
  EXPECT_EQ(optim::clip_coefficient({none}, 1.0).item(), 1.0);
  // As clip_grad_norm: an infinite norm scales by 0, a NaN one by NaN.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(optim::clip_coefficient_of(Tensor::scalar(inf, DType::f64), 1.0).item(), 0.0);
  EXPECT_TRUE(std::isnan(optim::clip_coefficient_of(Tensor::scalar(std::nan(""), DType::f64), 1.0).item()));
  EXPECT_TRUE(contains(error_of([&] { optim::clip_coefficient({a}, 0.0); }), "max_norm must be > 0"));
  EXPECT_TRUE(contains(error_of([&] { optim::clip_coefficient_of(Tensor::zeros({2}), 1.0); }), "must be 0-dim"));
}

TEST(Optimizer, AGradientScaleMustBeOneFloatingValue) {
  const NamedTensors params = fresh_parameters(8);
  auto sgd = optim::make_optimizer(params, {.kind = OptimizerKind::sgd});
  set_gradients(params, 0);
  EXPECT_TRUE(contains(error_of([&] { sgd->step(Tensor::ones({2})); }), "0-dim floating tensor, got f32 [2]"));
  EXPECT_TRUE(contains(error_of([&] { sgd->step(Tensor::zeros({}, DType::i64)); }), "got i64"));
  EXPECT_EQ(sgd->step_count(), 0);  // refused before anything changed
}

}  // namespace
}  // namespace torus
