// A device array of any trivially copyable element type (i64 indices, u8 masks, status
// words) for the GPU kernel tests; cuda_test_support.h's DeviceBuffer holds floats only.
#pragma once

#include <cstddef>
#include <vector>

#include <cuda_runtime.h>

#include "kernels/cuda/check.h"

namespace torus::cuda::testing {

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) { TORUS_CUDA(cudaMalloc(&data_, (n == 0 ? 1 : n) * sizeof(T))); }
  explicit DeviceArray(const std::vector<T>& values) : DeviceArray(values.size()) {
    if (n_ > 0) TORUS_CUDA(cudaMemcpy(data_, values.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceArray() { (void)cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() { return data_; }
  std::vector<T> download() const {
    std::vector<T> values(n_);
    if (n_ > 0) TORUS_CUDA(cudaMemcpy(values.data(), data_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return values;
  }

 private:
  T* data_ = nullptr;
  size_t n_;
};

}  // namespace torus::cuda::testing
