// The caching allocator's real backend: cudaMalloc/cudaFree and CUDA events on one device.
#pragma once

#include <memory>

#include "kernels/cuda/caching_allocator.h"

namespace torus::cuda {

class CudaMemoryBackend final : public DeviceMemoryBackend {
 public:
  explicit CudaMemoryBackend(int device) : device_(device) {}
  void* allocate(size_t bytes) override;
  void release(void* ptr) override;
  Event record_event(Stream stream) override;
  bool event_completed(Event event) override;
  void synchronize_event(Event event) override;
  void destroy_event(Event event) override;
  int device() const { return device_; }

 private:
  int device_;
};

// A caching allocator on `device` through CudaMemoryBackend.
std::unique_ptr<CachingAllocator> make_cuda_caching_allocator(int device);

}  // namespace torus::cuda
