// DeviceContext: what one CUDA device holds for this process, made on first use and kept
// until exit: its caching allocator, a compute stream and a communication stream (both
// non-blocking, so neither waits on the legacy default stream), the cuBLAS / cuBLASLt
// handles bound to the compute stream, and a pinned host staging buffer for copies.
//
// Ordering between the streams is by events only (no host synchronization): the
// communication stream waits for what compute has issued before a collective
// (comm_wait_for_compute), and compute waits for a collective's completion event before
// it reads the result (compute_wait_for(event)).
//
// Knows nothing of tensors (kernels ← framework): the framework's Storage and Tensor::to
// call into it.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/cuda/caching_allocator.h"

struct CUevent_st;

namespace torus::cuda {

class BlasHandles;
using Event = CUevent_st*;  // cudaEvent_t, without <cuda_runtime.h>

// How many CUDA devices this process can use; 0 when there is no driver or no device
// (never throws). why_no_device() says why in words ("" when one can be used).
int device_count();
std::string why_no_device();

class DeviceContext {
 public:
  // Throws naming the index when the device does not exist.
  explicit DeviceContext(int index);
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int index() const { return index_; }
  Stream compute_stream() const { return compute_; }
  Stream comm_stream() const { return comm_; }
  CachingAllocator& allocator() { return *allocator_; }
  BlasHandles& blas() { return *blas_; }

  // Makes this device current on the calling thread (cudaSetDevice), cheap when it is.
  void make_current() const;

  // Device memory for `bytes` on the compute stream, and its release.
  void* allocate(size_t bytes);
  void deallocate(void* ptr);

  // The communication stream waits for everything issued to compute so far.
  void comm_wait_for_compute();
  // Records an event on `stream` (a new event, owned by the caller: destroy_event).
  Event record(Stream stream);
  // The compute stream waits for `event` (recorded on another stream).
  void compute_wait_for(Event event);
  bool event_done(Event event);
  void synchronize_event(Event event);
  static void destroy_event(Event event);
  void synchronize_compute();

  // Copies between host and this device on the compute stream. Host-to-device stages
  // through pinned memory, or the driver's own staging up to 64 KiB (the caller's buffer
  // may be reused at return either way); device-to-host waits for the copy, so `host` is
  // filled on return. Device-to-device stays async.
  void copy_to_device(void* device, const void* host, size_t bytes);
  void copy_to_host(void* host, const void* device, size_t bytes);
  void copy_device_to_device(void* to, const void* from, size_t bytes);
  void fill_zero(void* device, size_t bytes);

 private:
  int index_;
  Stream compute_ = nullptr;
  Stream comm_ = nullptr;
  std::unique_ptr<CachingAllocator> allocator_;
  std::unique_ptr<BlasHandles> blas_;
  std::mutex staging_mutex_;  // one staging buffer, copies through it one at a time
  void* staging_ = nullptr;   // pinned host memory (8 MiB), made on the first large upload
  Event staging_free_ = nullptr;  // recorded after the last copy out of staging
};

// The context of device `index`, made on first use (thread-safe), one per device per
// process. Throws when there is no such device.
DeviceContext& device_context(int index);

}  // namespace torus::cuda
