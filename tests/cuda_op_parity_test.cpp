// Every sample of the op registry (framework/ops/op_info.h) on cuda:0 against the cpu, in
// f32: forward values and the gradients of sum(out * projection). Ops with a CUDA kernel
// must match; ops without one yet must refuse by name (NotImplementedError), and are
// skipped saying so. Label gpu: skips, saying why, where no device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/ops.h"
#include "framework/optim/adam.h"
#include "framework/tensor/device_backend.h"
#include "framework/tensor/random.h"
#include "support/op_samples.h"

namespace torus {
namespace {

const Device kGpu = Device::cuda(0);

// Op families with CUDA kernels: a refusal there is a failure, not a skip.
const char* const kOnCuda[] = {"add/", "sub/", "mul/", "div/", "sum/", "neg/", "matmul/", "linear/",
                              "softmax/", "log_softmax/", "layer_norm/", "gelu/", "cross_entropy/",
                              "embedding/", "dropout/", "exp/", "log/", "sqrt/", "rsqrt/", "abs/", "tanh/",
                              "sigmoid/", "relu/", "square/", "where/", "masked_fill/", "mean/"};

bool expected_on_cuda(const std::string& name) {
  for (const char* prefix : kOnCuda)
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

// The sample's cpu inputs on the device, with the same layout (transposed views stay
// transposed views) and the same requires_grad.
std::vector<Tensor> on_device(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs) {
    const Tensor base = t.detach();
    Tensor d = base.is_contiguous() || base.dim() < 2
                   ? base.to(kGpu)
                   : base.transpose(-1, -2).contiguous().to(kGpu).transpose(-1, -2);
    if (t.requires_grad()) d.set_requires_grad(true);
    out.push_back(d);
  }
  return out;
}

void expect_close(const Tensor& cpu, const Tensor& gpu, double rtol, const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  ASSERT_EQ(gpu.device(), kGpu) << what;
  const std::vector<double> a = cpu.to_vector<double>(), b = gpu.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(b[i], a[i], 1e-6 + rtol * std::abs(a[i])) << what << " [" << i << "]";
}

class CudaOpParity : public ::testing::TestWithParam<OpSample> {
 protected:
  void SetUp() override {
    const std::string why = device_backend::why_unavailable(kGpu);
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_P(CudaOpParity, MatchesTheCpu) {
  const OpSample& sample = GetParam();
  const std::vector<Tensor> cpu_inputs = test::make_inputs(sample, DType::f32, 1234);
  const Tensor cpu_out = sample.call(cpu_inputs);
  const std::vector<Tensor> gpu_inputs = on_device(cpu_inputs);
  Tensor gpu_out;
  try {
    gpu_out = sample.call(gpu_inputs);
  } catch (const NotImplementedError& e) {
    if (expected_on_cuda(sample.name)) FAIL() << sample.name << " should run on cuda: " << e.what();
    GTEST_SKIP() << "no CUDA kernel yet: " << e.what();
  }
  expect_close(cpu_out, gpu_out, sample.rtol, sample.name + " forward");
  if (!is_floating(cpu_out.dtype()) || !cpu_out.requires_grad()) return;

  Generator gen(99);
  const Tensor projection = Tensor::randn(cpu_out.shape(), gen);
  cpu_out.backward(projection);
  gpu_out.backward(projection.to(kGpu));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    ASSERT_TRUE(gpu_inputs[i].grad().defined()) << sample.name << ": input " << i << " got no gradient on cuda";
    expect_close(cpu_inputs[i].grad(), gpu_inputs[i].grad(), sample.rtol * 10,
                 sample.name + " gradient of input " + std::to_string(i));
  }
}

// The fused AdamW kernel through optim::AdamW: three steps on cuda:0 and on the cpu from the
// same parameters and gradients agree to f32 rounding.
TEST(CudaOptimizer, AdamWStepsMatchTheCpu) {
  const std::string why = device_backend::why_unavailable(kGpu);
  if (!why.empty()) GTEST_SKIP() << why;
  Generator gen(5);
  const Tensor start = Tensor::randn({257, 3}, gen);
  const Tensor cpu_param = start.clone().detach().set_requires_grad();
  const Tensor gpu_param = start.to(kGpu).detach().set_requires_grad();
  const optim::AdamWOptions options{.lr = 0.01, .weight_decay = 0.1};
  optim::AdamW cpu_adam(std::vector<Tensor>{cpu_param}, options), gpu_adam(std::vector<Tensor>{gpu_param}, options);
  for (int step = 0; step < 3; ++step) {
    const Tensor target = Tensor::randn({257, 3}, gen);
    sum(mul(cpu_param, target)).backward();
    sum(mul(gpu_param, target.to(kGpu))).backward();
    cpu_adam.step();
    gpu_adam.step();
    cpu_adam.zero_grad();
    gpu_adam.zero_grad();
  }
  expect_close(cpu_param, gpu_param, 1e-5, "AdamW after 3 steps");
}

INSTANTIATE_TEST_SUITE_P(Registry, CudaOpParity, ::testing::ValuesIn(op_samples()),
                         [](const auto& info) { return test::test_name(info.param.name); });

}  // namespace
}  // namespace torus
