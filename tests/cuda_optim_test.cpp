// The optimizers and gradient clipping on cuda:0 against the cpu: AdamW (the fused kernel),
// SGD in its variants (composed of the device's arithmetic ops), clip_grad_norm over device
// gradients and the clipping coefficient applied in the step, from the same parameters and
// gradients. Label gpu: skips, saying why,
// where no device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "framework/ops/ops.h"
#include "framework/optim/adam.h"
#include "framework/optim/clip_grad.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/random.h"
#include "support/device_test.h"

namespace torus {
namespace {

using test::expect_close_to_cpu;
using test::kGpu;
using CudaOptimizer = test::DeviceTest;

// One parameter on each side from the same start.
struct Pair {
  Tensor cpu, gpu;
};
Pair parameter_pair(const Shape& shape, Generator& gen) {
  const Tensor start = Tensor::randn(shape, gen);
  return {start.clone().detach().set_requires_grad(), start.to(kGpu).detach().set_requires_grad()};
}

// `steps` steps of the two optimizers on sum(param * target), new targets each step.
template <class Optimizer>
void run_steps(Pair& param, Optimizer& cpu_optimizer, Optimizer& gpu_optimizer, int steps, Generator& gen) {
  for (int step = 0; step < steps; ++step) {
    const Tensor target = Tensor::randn(param.cpu.shape(), gen);
    sum(mul(param.cpu, target)).backward();
    sum(mul(param.gpu, target.to(kGpu))).backward();
    cpu_optimizer.step();
    gpu_optimizer.step();
    cpu_optimizer.zero_grad();
    gpu_optimizer.zero_grad();
  }
}

TEST_F(CudaOptimizer, AdamWStepsMatchTheCpu) {
  Generator gen(5);
  Pair param = parameter_pair({257, 3}, gen);
  const optim::AdamWOptions options{.lr = 0.01, .weight_decay = 0.1};
  optim::AdamW cpu_adam(std::vector<Tensor>{param.cpu}, options), gpu_adam(std::vector<Tensor>{param.gpu}, options);
  run_steps(param, cpu_adam, gpu_adam, 3, gen);
  expect_close_to_cpu(param.cpu, param.gpu, 1e-5, "AdamW after 3 steps");
}

TEST_F(CudaOptimizer, SgdStepsMatchTheCpuInEveryVariant) {
  const std::vector<optim::SgdOptions> variants = {
      {.lr = 0.1},
      {.lr = 0.1, .weight_decay = 0.01},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01},
      {.lr = 0.05, .momentum = 0.9, .nesterov = true},
  };
  for (size_t v = 0; v < variants.size(); ++v) {
    Generator gen(11 + v);
    Pair param = parameter_pair({65, 4}, gen);
    optim::Sgd cpu_sgd(std::vector<Tensor>{param.cpu}, variants[v]), gpu_sgd(std::vector<Tensor>{param.gpu}, variants[v]);
    run_steps(param, cpu_sgd, gpu_sgd, 3, gen);
    expect_close_to_cpu(param.cpu, param.gpu, 1e-5, "SGD variant " + std::to_string(v) + " after 3 steps");
  }
}

// Gradients set by hand on both sides, one of them holding a large value so that clipping
// scales them all.
TEST_F(CudaOptimizer, ClipGradNormMatchesTheCpuForEachNorm) {
  for (const double norm_type : {2.0, 3.0, std::numeric_limits<double>::infinity()}) {
    Generator gen(21);
    std::vector<Tensor> cpu_params, gpu_params;
    for (const Shape& shape : {Shape{33, 5}, Shape{7}, Shape{2, 3, 4}}) {
      Pair param = parameter_pair(shape, gen);
      sum(mul(param.cpu, param.cpu.detach() * 3.0)).backward();
      sum(mul(param.gpu, param.gpu.detach() * 3.0)).backward();
      cpu_params.push_back(param.cpu);
      gpu_params.push_back(param.gpu);
    }
    const std::string what = "norm " + std::to_string(norm_type);
    const double cpu_norm = optim::clip_grad_norm(cpu_params, 1.0, norm_type);
    const double gpu_norm = optim::clip_grad_norm(gpu_params, 1.0, norm_type);
    EXPECT_NEAR(gpu_norm, cpu_norm, 1e-5 * cpu_norm) << what;
    ASSERT_GT(cpu_norm, 1.0) << what << ": the gradients should need clipping";
    for (size_t i = 0; i < cpu_params.size(); ++i)
      expect_close_to_cpu(cpu_params[i].grad(), gpu_params[i].grad(), 1e-5, what + " gradient " + std::to_string(i));
  }
}

// The coefficient stays on the device, and AdamW (the fused kernel) and SGD read the
// gradients through it: the cpu's clip_grad_norm then step(), to f32 rounding.
TEST_F(CudaOptimizer, ClipCoefficientInTheStepMatchesTheCpu) {
  for (const bool adamw : {true, false}) {
    Generator gen(31);
    std::vector<Tensor> cpu_params, gpu_params;
    for (const Shape& shape : {Shape{129, 5}, Shape{7}}) {
      Pair param = parameter_pair(shape, gen);
      cpu_params.push_back(param.cpu);
      gpu_params.push_back(param.gpu);
    }
    std::unique_ptr<optim::Optimizer> cpu_optimizer, gpu_optimizer;
    if (adamw) {
      cpu_optimizer = std::make_unique<optim::AdamW>(cpu_params, optim::AdamWOptions{.lr = 0.01});
      gpu_optimizer = std::make_unique<optim::AdamW>(gpu_params, optim::AdamWOptions{.lr = 0.01});
    } else {
      cpu_optimizer = std::make_unique<optim::Sgd>(cpu_params, optim::SgdOptions{.lr = 0.05, .momentum = 0.9});
      gpu_optimizer = std::make_unique<optim::Sgd>(gpu_params, optim::SgdOptions{.lr = 0.05, .momentum = 0.9});
    }
    const std::string what = adamw ? "AdamW" : "SGD";
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < cpu_params.size(); ++i) {
        const Tensor target = Tensor::randn(cpu_params[i].shape(), gen) * 3.0;
        sum(mul(cpu_params[i], target)).backward();
        sum(mul(gpu_params[i], target.to(kGpu))).backward();
      }
      const double norm = optim::clip_grad_norm(cpu_params, 1.0);
      ASSERT_GT(norm, 1.0) << what << ": the gradients should need clipping";
      const Tensor coefficient = optim::clip_coefficient(gpu_params, 1.0);
      EXPECT_EQ(coefficient.device(), kGpu) << what;
      EXPECT_NEAR(coefficient.item(), 1.0 / (norm + 1e-6), 1e-5 / norm) << what << " step " << step;
      const Tensor unscaled = gpu_params[0].grad().clone();
      cpu_optimizer->step();
      gpu_optimizer->step(coefficient);
      EXPECT_EQ(gpu_params[0].grad().to(Device::cpu()).to_vector<float>(), unscaled.to(Device::cpu()).to_vector<float>())
          << what << ": the device gradient is only read";
      cpu_optimizer->zero_grad();
      gpu_optimizer->zero_grad();
    }
    for (size_t i = 0; i < cpu_params.size(); ++i)
      expect_close_to_cpu(cpu_params[i], gpu_params[i], 1e-5, what + " parameter " + std::to_string(i));
  }
}

TEST_F(CudaOptimizer, GradNormOfADeviceGradientHoldingNanIsNan) {
  const Tensor p = Tensor::zeros({4}, DType::f32, kGpu);
  p.set_requires_grad();
  const Tensor weights = Tensor::from_vector({1.0, std::nan(""), 2.0, 3.0}, {4}).to(kGpu);
  sum(mul(p, weights)).backward();
  for (const double norm_type : {2.0, std::numeric_limits<double>::infinity()})
    EXPECT_TRUE(std::isnan(optim::grad_norm({p}, norm_type))) << "norm " << norm_type;
}

}  // namespace
}  // namespace torus
