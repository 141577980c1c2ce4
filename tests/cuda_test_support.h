// Shared pieces of the GPU kernel tests (label gpu): the skip when no device is present,
// device buffers, random inputs and tolerance checks against a CPU reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/device_context.h"
#include "kernels/cuda/gemm.h"

namespace torus::cuda::testing {

// Every GPU test derives from this: without a device it skips, saying why.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = why_no_device();  // device_context.h
    if (!why.empty()) GTEST_SKIP() << why;
    TORUS_CUDA(cudaStreamCreate(&stream_));
  }
  void TearDown() override {
    if (stream_ != nullptr) TORUS_CUDA(cudaStreamDestroy(stream_));
  }
  void sync() { TORUS_CUDA(cudaStreamSynchronize(stream_)); }
  cudaStream_t stream_ = nullptr;
};

// A GPU test that also holds cuBLAS / cuBLASLt handles on its stream (GEMM, attention).
class CudaBlasTest : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    handles_ = std::make_unique<BlasHandles>(stream_);
  }
  void TearDown() override {
    handles_.reset();
    CudaTest::TearDown();
  }
  std::unique_ptr<BlasHandles> handles_;
};

// n elements of T on the device (floats, i64 indices, u8 masks, status words); `offset`
// elements past a 256-byte boundary, to test unaligned paths.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n, size_t offset = 0) : n_(n), offset_(offset) {
    TORUS_CUDA(cudaMalloc(&base_, (n + offset) * sizeof(T) + 1));
  }
  explicit DeviceArray(const std::vector<T>& values, size_t offset = 0) : DeviceArray(values.size(), offset) {
    upload(values);
  }
  ~DeviceArray() { (void)cudaFree(base_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return static_cast<T*>(base_) + offset_; }
  void upload(const std::vector<T>& values) {
    if (values.empty()) return;
    TORUS_CUDA(cudaMemcpy(get(), values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> values(n_);
    if (n_ > 0) TORUS_CUDA(cudaMemcpy(values.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return values;
  }

 private:
  void* base_ = nullptr;
  size_t n_;
  size_t offset_;
};

using DeviceBuffer = DeviceArray<float>;

inline std::vector<float> random_vector(size_t n, uint32_t seed, float low = -2.0f, float high = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// |got - want| <= atol + rtol * |want| everywhere; reports the first few misses only.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want, double atol,
                         double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int misses = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double limit = atol + rtol * std::abs(want[i]);
    if (!(std::abs(got[i] - want[i]) <= limit)) {
      if (misses < 5) ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", want " << want[i];
      ++misses;
    }
  }
  EXPECT_EQ(misses, 0) << what << ": " << misses << " of " << got.size() << " elements off";
}

}  // namespace torus::cuda::testing
