// What the framework's GPU tests (label gpu) share: the device they run on, a fixture that
// skips, saying why, where that device cannot be used, and the elementwise check of a device
// tensor against its cpu reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/tensor/device_backend.h"
#include "framework/tensor/tensor.h"

namespace torus::test {

inline const Device kGpu = Device::cuda(0);

// Base: ::testing::Test, or ::testing::TestWithParam<P> for a parameterized suite.
template <class Base = ::testing::Test>
class DeviceTestOf : public Base {
 protected:
  void SetUp() override {
    const std::string why = device_backend::why_unavailable(kGpu);
    if (!why.empty()) GTEST_SKIP() << why;
  }
};
using DeviceTest = DeviceTestOf<>;

// gpu on kGpu, of cpu's shape, each element within 1e-6 + rtol |cpu|.
inline void expect_close_to_cpu(const Tensor& cpu, const Tensor& gpu, double rtol, const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  ASSERT_EQ(gpu.device(), kGpu) << what;
  const std::vector<double> a = cpu.to_vector<double>(), b = gpu.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-6 + rtol * std::abs(a[i])) << what << " [" << i << "]";
}

}  // namespace torus::test
