// cudaMalloc, cudaFree and events behind DeviceMemoryBackend. Each call makes the
// allocator's device current and restores the caller's, so the allocator works from any
// thread whatever device it has selected.
#include "kernels/cuda/cuda_memory_backend.h"

#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_error.h"

namespace torus::cuda {

namespace {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    TORUS_CUDA(cudaGetDevice(&previous_));
    if (previous_ != device) TORUS_CUDA(cudaSetDevice(device));
  }
  ~DeviceGuard() { (void)cudaSetDevice(previous_); }  // nowhere to report from a destructor
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

cudaEvent_t as_event(DeviceMemoryBackend::Event event) { return static_cast<cudaEvent_t>(event); }

}  // namespace

void* CudaMemoryBackend::allocate(size_t bytes) {
  DeviceGuard guard(device_);
  void* ptr = nullptr;
  const cudaError_t code = cudaMalloc(&ptr, bytes);
  if (code == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clears the sticky-until-read error; the allocator retries
    return nullptr;
  }
  TORUS_CUDA(code);
  return ptr;
}

void CudaMemoryBackend::release(void* ptr) {
  DeviceGuard guard(device_);
  TORUS_CUDA(cudaFree(ptr));
}

DeviceMemoryBackend::Event CudaMemoryBackend::record_event(Stream stream) {
  DeviceGuard guard(device_);
  cudaEvent_t event = nullptr;
  TORUS_CUDA(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  TORUS_CUDA(cudaEventRecord(event, stream));
  return event;
}

bool CudaMemoryBackend::event_completed(Event event) {
  const cudaError_t code = cudaEventQuery(as_event(event));
  if (code == cudaErrorNotReady) return false;
  TORUS_CUDA(code);
  return true;
}

void CudaMemoryBackend::synchronize_event(Event event) { TORUS_CUDA(cudaEventSynchronize(as_event(event))); }

void CudaMemoryBackend::destroy_event(Event event) { TORUS_CUDA(cudaEventDestroy(as_event(event))); }

std::unique_ptr<CachingAllocator> make_cuda_caching_allocator(int device) {
  return std::make_unique<CachingAllocator>(std::make_unique<CudaMemoryBackend>(device));
}

}  // namespace torus::cuda
