// Device tensors (framework/tensor/device_backend.h) on a GPU: storage from the caching
// allocator, host <-> device copies, strided and broadcast copies, dtype conversion and
// fills on the device, each against the same operation on the cpu. Label gpu: skips,
// saying why, where no device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "framework/nn/linear.h"
#include "framework/ops/ops.h"
#include "framework/tensor/device_backend.h"
#include "framework/tensor/random.h"
#include "framework/tensor/tensor.h"
#include "kernels/cuda/device_context.h"
#include "support/device_test.h"

namespace torus {
namespace {

using test::kGpu;
using CudaTensor = test::DeviceTest;

TEST_F(CudaTensor, RoundTripKeepsEveryValueOfEveryDtype) {
  Generator gen(1);
  for (DType t : kAllDTypes) {
    const Tensor host = Tensor::randn({5, 7}, gen, DType::f64, 0, 50).to(t);
    const Tensor device = host.to(kGpu);
    EXPECT_EQ(device.device(), kGpu);
    EXPECT_EQ(device.dtype(), t);
    const Tensor back = device.to(Device::cpu());
    EXPECT_TRUE(back.device().is_cpu());
    EXPECT_EQ(back.to_vector<double>(), host.to_vector<double>()) << dtype_name(t);
    EXPECT_EQ(device.to_vector<double>(), host.to_vector<double>()) << dtype_name(t);
  }
}

TEST_F(CudaTensor, LargeUploadsGoThroughStagingInPieces) {
  // 40 MiB: five pieces of the 8 MiB staging buffer, the last one partial.
  Generator gen(2);
  const Tensor host = Tensor::randn({int64_t{10} << 20}, gen);
  EXPECT_EQ(host.to(kGpu).to_vector<float>(), host.to_vector<float>());
}

TEST_F(CudaTensor, StridedViewsCopyAsOnTheCpu) {
  Generator gen(3);
  const Tensor host = Tensor::randn({4, 6, 5}, gen);
  const Tensor device = host.to(kGpu);
  EXPECT_EQ(device.transpose(0, 2).contiguous().to_vector<float>(), host.transpose(0, 2).contiguous().to_vector<float>());
  EXPECT_EQ(device.narrow(1, 2, 3).to_vector<float>(), host.narrow(1, 2, 3).to_vector<float>());
  EXPECT_EQ(device.select(2, 4).to(Device::cpu()).to_vector<float>(), host.select(2, 4).to_vector<float>());
  // A strided device view uploads and downloads through its strides.
  const Tensor target = Tensor::zeros({6, 4}, DType::f32, kGpu);
  target.narrow(1, 1, 2).copy_(host.select(2, 0).narrow(0, 0, 2).t());
  Tensor expected = Tensor::zeros({6, 4});
  expected.narrow(1, 1, 2).copy_(host.select(2, 0).narrow(0, 0, 2).t());
  EXPECT_EQ(target.to_vector<float>(), expected.to_vector<float>());
}

TEST_F(CudaTensor, BroadcastCopiesAndFills) {
  const Tensor row = Tensor::from_vector({1, 2, 3}, {3}).to(kGpu);
  const Tensor out = Tensor::empty({2, 3}, DType::f32, kGpu);
  out.copy_(row);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  out.copy_(Tensor::from_vector({7, 8}, {2, 1}));  // from the host, broadcast on the device
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{7, 7, 7, 8, 8, 8}));
  out.t().narrow(0, 1, 1).fill_(-1.5);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{7, -1.5, 7, 8, -1.5, 8}));
  EXPECT_EQ(Tensor::zeros({3}, DType::i64, kGpu).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(Tensor::full({2}, -0.0, DType::f32, kGpu).to_vector<float>()[0], 0.0f);
  EXPECT_TRUE(std::signbit(Tensor::full({2}, -0.0, DType::f32, kGpu).to_vector<float>()[1]));
  EXPECT_EQ(Tensor::full({}, 3.25, DType::bf16, kGpu).item(), 3.25);
}

TEST_F(CudaTensor, DtypeConversionOnTheDeviceMatchesTheCpu) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor host = Tensor::from_vector({-5.5, -0.5, 0.5, 1.0000001, 3.999, 255.7, 300.2, 1e30, -1e30, inf, nan,
                                           0.1, 65504.0, 1.00390625},
                                          {14}, DType::f64);
  const Tensor device = host.to(kGpu);
  for (DType to : kAllDTypes) {
    for (DType from : {DType::f64, DType::f32, DType::bf16}) {
      const Tensor on_host = host.to(from).to(to);
      const Tensor on_device = device.to(from).to(to);
      EXPECT_EQ(on_device.device(), kGpu);
      const std::vector<double> a = on_host.to_vector<double>(), b = on_device.to_vector<double>();
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_TRUE(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))
            << dtype_name(from) << " -> " << dtype_name(to) << " [" << i << "]: cpu " << a[i] << ", cuda " << b[i];
    }
  }
}

TEST_F(CudaTensor, HostReadsOfDeviceMemoryAreRefusedByName) {
  const Tensor device = Tensor::zeros({2}, DType::f32, kGpu);
  try {
    (void)device.data<float>();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
  EXPECT_NE(device.str().find("values=[0, 0]"), std::string::npos) << device.str();
}

TEST_F(CudaTensor, GradientOfAMoveGoesBackToTheSourceDevice) {
  const Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad();
  const Tensor y = x.to(kGpu);
  ASSERT_NE(y.grad_fn(), nullptr);
  sum(y.to(Device::cpu())).backward();  // sum on the cpu: no device kernels needed
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(x.grad().device().is_cpu());
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1, 1, 1}));
}

TEST_F(CudaTensor, FreedStorageReturnsToTheCachingAllocator) {
  cuda::CachingAllocator& allocator = cuda::device_context(0).allocator();
  const size_t before = allocator.stats().allocated_bytes;
  {
    const Tensor t = Tensor::empty({1 << 20}, DType::f32, kGpu);
    EXPECT_GE(allocator.stats().allocated_bytes, before + (size_t{4} << 20));
  }
  EXPECT_EQ(allocator.stats().allocated_bytes, before);
  const size_t misses = allocator.stats().cache_misses;
  { const Tensor again = Tensor::empty({1 << 20}, DType::f32, kGpu); }
  EXPECT_EQ(allocator.stats().cache_misses, misses) << "the second block of the same size should come from the cache";
}

TEST_F(CudaTensor, ModuleToMovesEveryParameterInPlace) {
  Generator gen(4);
  nn::Linear cpu_layer(5, 3, gen, true, DType::f32);
  Generator same(4);
  nn::Linear gpu_layer(5, 3, same, true, DType::f32);
  const Tensor weight_handle = gpu_layer.named_parameters()[0].second;  // taken before the move
  gpu_layer.to(kGpu);
  for (const auto& [name, p] : gpu_layer.named_parameters()) {
    EXPECT_EQ(p.device(), kGpu) << name;
    EXPECT_TRUE(p.requires_grad() && p.is_leaf()) << name;
  }
  EXPECT_EQ(weight_handle.device(), kGpu) << "handles made before the move see the new storage";
  Generator data(6);
  const Tensor x = Tensor::randn({4, 5}, data);
  const Tensor cpu_y = cpu_layer(x), gpu_y = gpu_layer(x.to(kGpu));
  EXPECT_EQ(gpu_y.device(), kGpu);
  const std::vector<float> a = cpu_y.to_vector<float>(), b = gpu_y.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-5 + 1e-5 * std::abs(a[i])) << i;
  sum(cpu_y).backward();
  sum(gpu_y).backward();
  const auto cpu_params = cpu_layer.named_parameters(), gpu_params = gpu_layer.named_parameters();
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    ASSERT_TRUE(gpu_params[i].second.grad().defined()) << gpu_params[i].first;
    EXPECT_EQ(gpu_params[i].second.grad().device(), kGpu);
    const std::vector<float> ga = cpu_params[i].second.grad().to_vector<float>();
    const std::vector<float> gb = gpu_params[i].second.grad().to_vector<float>();
    for (size_t j = 0; j < ga.size(); ++j) EXPECT_NEAR(gb[j], ga[j], 1e-5 + 1e-5 * std::abs(ga[j])) << j;
  }
}

}  // namespace
}  // namespace torus
