// Every sample of the op registry (framework/ops/op_info.h) on cuda:0 against the cpu, in
// f32: forward values and the gradients of sum(out * projection). Every op has a CUDA path,
// so a refusal (NotImplementedError) fails the sample: a new op must come with its device
// column. Label gpu: skips, saying why, where no device is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/autocast.h"
#include "framework/ops/device_checks.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"
#include "support/device_test.h"
#include "support/op_samples.h"

namespace torus {
namespace {

using test::expect_close_to_cpu;
using test::kGpu;

// Convolution and pooling run on a device through cuDNN, which a CUDA build may leave out
// (TORUS_WITH_CUDNN=OFF).
bool uses_cudnn(const std::string& name) {
  for (const char* prefix : {"conv2d/", "max_pool2d/", "avg_pool2d/"})
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

class CudaOpParity : public test::DeviceTestOf<::testing::TestWithParam<OpSample>> {};

TEST_P(CudaOpParity, MatchesTheCpu) {
  const OpSample& sample = GetParam();
  const std::vector<Tensor> cpu_inputs = test::make_inputs(sample, DType::f32, 1234);
  const Tensor cpu_out = sample.call(cpu_inputs);
  const std::vector<Tensor> gpu_inputs = on_device(cpu_inputs);
  Tensor gpu_out;
  try {
    gpu_out = sample.call(gpu_inputs);
  } catch (const NotImplementedError& e) {
    if (!TORUS_HAVE_CUDNN && uses_cudnn(sample.name)) GTEST_SKIP() << "this build has no cuDNN: " << e.what();
    FAIL() << sample.name << " has no CUDA path: " << e.what();
  }
  expect_close_to_cpu(cpu_out, gpu_out, sample.rtol, sample.name + " forward");
  if (!is_floating(cpu_out.dtype()) || !cpu_out.requires_grad()) return;

  Generator gen(99);
  const Tensor projection = Tensor::randn(cpu_out.shape(), gen);
  cpu_out.backward(projection);
  gpu_out.backward(projection.to(kGpu));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    ASSERT_TRUE(gpu_inputs[i].grad().defined()) << sample.name << ": input " << i << " got no gradient on cuda";
    expect_close_to_cpu(cpu_inputs[i].grad(), gpu_inputs[i].grad(), sample.rtol * 10,
                 sample.name + " gradient of input " + std::to_string(i));
  }
}

// Under bf16 autocast (framework/ops/autocast.h) the device's bf16 GEMMs against the cpu's
// emulation: the products of bf16 values are exact in f32 on both, so only the order of the
// f32 sums differs, forward and backward.
class CudaAutocastParity : public CudaOpParity {};

std::vector<OpSample> matrix_product_samples() {
  std::vector<OpSample> out;
  for (const OpSample& sample : op_samples())
    if (sample.name.rfind("matmul/", 0) == 0 || sample.name.rfind("linear/", 0) == 0 ||
        sample.name.rfind("linear_gelu/", 0) == 0)
      out.push_back(sample);
  return out;
}

TEST_P(CudaAutocastParity, MatchesTheCpuEmulation) {
  const OpSample& sample = GetParam();
  AutocastGuard bf16(DType::bf16);
  const std::vector<Tensor> cpu_inputs = test::make_inputs(sample, DType::f32, 4321);
  const Tensor cpu_out = sample.call(cpu_inputs);
  const std::vector<Tensor> gpu_inputs = on_device(cpu_inputs);
  const Tensor gpu_out = sample.call(gpu_inputs);
  ASSERT_EQ(gpu_out.dtype(), DType::f32) << sample.name;
  expect_close_to_cpu(cpu_out, gpu_out, 1e-5, sample.name + " forward under autocast");
  Generator gen(7);
  const Tensor projection = Tensor::randn(cpu_out.shape(), gen);
  cpu_out.backward(projection);
  gpu_out.backward(projection.to(kGpu));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    expect_close_to_cpu(cpu_inputs[i].grad(), gpu_inputs[i].grad(), 1e-5,
                 sample.name + " gradient of input " + std::to_string(i) + " under autocast");
  }
}

// The fused attention kernel's dropout draws the cpu composition's mask (the same Philox
// blocks over the (B, H, T, T) weights), forward and backward.
using CudaAttention = test::DeviceTest;
TEST_F(CudaAttention, DropoutMatchesTheCpuComposition) {
  Generator inputs(31);
  // B H T² = 75 probabilities: the last Philox block is a partial one.
  const Tensor cpu_qkv = Tensor::randn({1, 5, 18}, inputs).set_requires_grad();
  const Tensor gpu_qkv = cpu_qkv.detach().to(kGpu).set_requires_grad();
  Generator cpu_gen(8), gpu_gen(8);
  const Tensor cpu_y = causal_attention(cpu_qkv, 3, 0.3, true, &cpu_gen);
  const Tensor gpu_y = causal_attention(gpu_qkv, 3, 0.3, true, &gpu_gen);
  expect_close_to_cpu(cpu_y, gpu_y, 1e-4, "attention with dropout, forward");
  EXPECT_EQ(cpu_gen.offset(), gpu_gen.offset()) << "the two drew different numbers of Philox blocks";
  const Tensor projection = Tensor::randn(cpu_y.shape(), inputs);
  cpu_y.backward(projection);
  gpu_y.backward(projection.to(kGpu));
  expect_close_to_cpu(cpu_qkv.grad(), gpu_qkv.grad(), 1e-4, "attention with dropout, gradient of qkv");
}

// Under bf16 autocast the device's bf16 attention kernels against the cpu's emulation of
// them (attention.cpp): f32 sums in other orders, and the bf16 roundings those flip (a step
// of 2^-8 relative at a few elements, which the later products carry). Compared against
// each tensor's largest magnitude: near-zero gradients are cancellations of such steps.
void expect_within_scale(const Tensor& cpu, const Tensor& gpu, double tolerance, const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  EXPECT_EQ(gpu.dtype(), DType::f32) << what;
  const std::vector<double> a = cpu.to_vector<double>(), b = gpu.to_vector<double>();
  double scale = 0, worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(a[i]));
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  EXPECT_LE(worst, tolerance * scale) << what;
}

TEST_F(CudaAttention, Bf16MatchesTheCpuEmulation) {
  Generator inputs(32);
  const Tensor cpu_qkv = Tensor::randn({2, 33, 96}, inputs).set_requires_grad();  // 4 heads of 8, T not a power of 2
  const Tensor gpu_qkv = cpu_qkv.detach().to(kGpu).set_requires_grad();
  Tensor cpu_y, gpu_y;
  {
    AutocastGuard bf16(DType::bf16);
    cpu_y = causal_attention(cpu_qkv, 4, 0.0, true, nullptr);
    gpu_y = causal_attention(gpu_qkv, 4, 0.0, true, nullptr);
  }
  expect_within_scale(cpu_y, gpu_y, 1e-2, "bf16 attention, forward");
  const Tensor projection = Tensor::randn(cpu_y.shape(), inputs);
  cpu_y.backward(projection);
  gpu_y.backward(projection.to(kGpu));
  expect_within_scale(cpu_qkv.grad(), gpu_qkv.grad(), 2e-2, "bf16 attention, gradient of qkv");
}

// An index out of range on a device: at once outside a DeferredDeviceChecks scope, at its
// verify() inside one, with the cpu's message either way (framework/ops/device_checks.h).
using CudaDeviceChecks = test::DeviceTest;
TEST_F(CudaDeviceChecks, ABadIndexThrowsTheCpusErrorAtOnceOrAtVerify) {
  Generator gen(12);
  const Tensor weight = Tensor::randn({5, 3}, gen);
  const Tensor index = Tensor::from_data<int64_t>({1, 7, 2}, {3});
  std::string cpu_error;
  try {
    (void)embedding(index, weight);
  } catch (const ValueError& e) {
    cpu_error = e.what();
  }
  ASSERT_FALSE(cpu_error.empty());
  try {
    (void)embedding(index.to(kGpu), weight.to(kGpu));
    ADD_FAILURE() << "no error outside a scope";
  } catch (const ValueError& e) {
    EXPECT_EQ(std::string(e.what()), cpu_error);
  }
  DeferredDeviceChecks scope;
  const Tensor rows = embedding(index.to(kGpu), weight.to(kGpu));  // no wait, no throw
  EXPECT_EQ(scope.pending(), 1);
  try {
    scope.verify();
    ADD_FAILURE() << "verify found nothing wrong";
  } catch (const ValueError& e) {
    EXPECT_EQ(std::string(e.what()), cpu_error);
  }
  // The kernel wrote zeros where the index was bad.
  const std::vector<double> bad_row = rows.narrow(0, 1, 1).to(Device::cpu()).to_vector<double>();
  for (double v : bad_row) EXPECT_EQ(v, 0.0);
  // Indices mended in place before the check: the device's finding still fails, saying so.
  const Tensor mended = index.to(kGpu);
  (void)embedding(mended, weight.to(kGpu));
  mended.fill_(0.0);
  try {
    scope.verify();
    ADD_FAILURE() << "a bad index the host copy no longer holds passed";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("at position 1, which the indices no longer hold"), std::string::npos)
        << e.what();
  }
}

// With TF32 allowed, f32 products on the device keep TF32's accuracy (10-bit mantissas,
// f32 accumulation: ~1e-3 relative) against the cpu's f32.
using CudaTf32 = test::DeviceTest;
TEST_F(CudaTf32, ProductsStayWithinTf32Rounding) {
  Generator gen(41);
  const Tensor a = Tensor::rand({64, 128}, gen), b = Tensor::rand({128, 32}, gen);  // positive: no cancellation
  const Tensor cpu = matmul(a, b);
  const Tensor gpu_f32 = matmul(a.to(kGpu), b.to(kGpu));
  set_allow_tf32(true);
  const Tensor gpu = matmul(a.to(kGpu), b.to(kGpu));
  set_allow_tf32(false);
  expect_close_to_cpu(cpu, gpu, 4e-3, "matmul with TF32");
  // and TF32 was used: 10-bit mantissas change some of the 2048 products' sums
  const std::vector<double> exact = gpu_f32.to_vector<double>(), fast = gpu.to_vector<double>();
  EXPECT_NE(exact, fast) << "TF32 allowed, yet the product equals the f32 GEMM's bit for bit";
}

INSTANTIATE_TEST_SUITE_P(Registry, CudaOpParity, ::testing::ValuesIn(op_samples()),
                         [](const auto& info) { return test::test_name(info.param.name); });
INSTANTIATE_TEST_SUITE_P(MatrixProducts, CudaAutocastParity, ::testing::ValuesIn(matrix_product_samples()),
                         [](const auto& info) { return test::test_name(info.param.name); });

}  // namespace
}  // namespace torus
