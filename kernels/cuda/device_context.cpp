// DeviceContext (see device_context.h): streams, allocator, BLAS handles and staging of
// one device, and the process-wide table of them.
#include "kernels/cuda/device_context.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <cuda_runtime_api.h>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_memory_backend.h"
#include "kernels/cuda/gemm.h"

namespace torus::cuda {
namespace {

// Host-to-device copies go through pinned memory in pieces of at most this much: large
// enough to run the copy engine near its bandwidth, small enough to keep pinned memory
// (which the OS cannot page out) modest.
constexpr size_t kStagingBytes = size_t{8} << 20;

// Uploads up to this size go straight from the caller's memory (see copy_to_device).
constexpr size_t kDirectUploadBytes = size_t{64} << 10;

// Enough for any node we know (8 GPUs) with room; a larger index is refused by name.
constexpr int kMaxDevices = 64;

}  // namespace

namespace {

// What cudaGetDeviceCount says, asked once: the devices a process sees do not change
// while it runs, and allocations and copies check it on every call.
struct DeviceQuery {
  int count = 0;
  std::string why_none;  // "" when count > 0
};

const DeviceQuery& device_query() {
  static const DeviceQuery query = [] {
    DeviceQuery q;
    const cudaError_t code = cudaGetDeviceCount(&q.count);
    if (code != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky error for later calls
      q.count = 0;
      q.why_none = std::string("no usable CUDA device: ") + cudaGetErrorString(code);
    } else if (q.count == 0) {
      q.why_none = "no usable CUDA device: cudaGetDeviceCount found 0 devices";
    }
    return q;
  }();
  return query;
}

}  // namespace

int device_count() { return device_query().count; }

std::string why_no_device() { return device_query().why_none; }

DeviceContext::DeviceContext(int index) : index_(index) {
  const int count = device_count();
  if (index < 0 || index >= count)
    throw ValueError("device cuda:" + std::to_string(index) + ": this process sees " + std::to_string(count) +
                     " CUDA device" + (count == 1 ? "" : "s") + (count == 0 ? " (" + why_no_device() + ")" : ""));
  make_current();
  TORUS_CUDA(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
  TORUS_CUDA(cudaStreamCreateWithFlags(&comm_, cudaStreamNonBlocking));
  allocator_ = make_cuda_caching_allocator(index);
  blas_ = std::make_unique<BlasHandles>(compute_);
}

DeviceContext::~DeviceContext() {
  // At process exit the driver may already be shutting down: errors are ignored here, as
  // nothing can be done about them and throwing from a destructor would end the process.
  (void)cudaSetDevice(index_);
  if (compute_ != nullptr) (void)cudaStreamSynchronize(compute_);
  if (comm_ != nullptr) (void)cudaStreamSynchronize(comm_);
  blas_.reset();
  allocator_.reset();
  if (staging_free_ != nullptr) (void)cudaEventDestroy(staging_free_);
  if (staging_ != nullptr) (void)cudaFreeHost(staging_);
  if (comm_ != nullptr) (void)cudaStreamDestroy(comm_);
  if (compute_ != nullptr) (void)cudaStreamDestroy(compute_);
}

void DeviceContext::make_current() const {
  int current = -1;
  TORUS_CUDA(cudaGetDevice(&current));
  if (current != index_) TORUS_CUDA(cudaSetDevice(index_));
}

void* DeviceContext::allocate(size_t bytes) {
  make_current();
  return allocator_->allocate(bytes, compute_);
}

void DeviceContext::deallocate(void* ptr) { allocator_->deallocate(ptr); }

Event DeviceContext::record(Stream stream) {
  make_current();
  cudaEvent_t event = nullptr;
  TORUS_CUDA(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  TORUS_CUDA(cudaEventRecord(event, stream));
  return event;
}

void DeviceContext::comm_wait_for_compute() {
  Event event = record(compute_);
  TORUS_CUDA(cudaStreamWaitEvent(comm_, event, 0));
  destroy_event(event);  // the wait keeps what it needs: destroying after enqueueing is allowed
}

void DeviceContext::compute_wait_for(Event event) { TORUS_CUDA(cudaStreamWaitEvent(compute_, event, 0)); }

bool DeviceContext::event_done(Event event) {
  const cudaError_t code = cudaEventQuery(event);
  if (code == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  TORUS_CUDA(code);
  return true;
}

void DeviceContext::synchronize_event(Event event) { TORUS_CUDA(cudaEventSynchronize(event)); }

void DeviceContext::destroy_event(Event event) { TORUS_CUDA(cudaEventDestroy(event)); }

void DeviceContext::synchronize_compute() { TORUS_CUDA(cudaStreamSynchronize(compute_)); }

void DeviceContext::copy_to_device(void* device, const void* host, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  if (bytes <= kDirectUploadBytes) {
    // Scalars and masks: the driver copies pageable memory into its own staging at once and
    // returns without waiting for the GPU; through our buffer the host would wait for all
    // compute queued before the previous upload.
    TORUS_CUDA(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, compute_));
    return;
  }
  std::lock_guard lock(staging_mutex_);
  if (staging_ == nullptr) {
    TORUS_CUDA(cudaMallocHost(&staging_, kStagingBytes));
    TORUS_CUDA(cudaEventCreateWithFlags(&staging_free_, cudaEventDisableTiming));
    TORUS_CUDA(cudaEventRecord(staging_free_, compute_));
  }
  auto* to = static_cast<char*>(device);
  const auto* from = static_cast<const char*>(host);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(kStagingBytes, bytes - done);
    TORUS_CUDA(cudaEventSynchronize(staging_free_));  // the previous piece has left staging
    std::memcpy(staging_, from + done, n);
    TORUS_CUDA(cudaMemcpyAsync(to + done, staging_, n, cudaMemcpyHostToDevice, compute_));
    TORUS_CUDA(cudaEventRecord(staging_free_, compute_));
    done += n;
  }
}

void DeviceContext::copy_to_host(void* host, const void* device, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  TORUS_CUDA(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, compute_));
  TORUS_CUDA(cudaStreamSynchronize(compute_));
}

void DeviceContext::copy_device_to_device(void* to, const void* from, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  TORUS_CUDA(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, compute_));
}

void DeviceContext::fill_zero(void* device, size_t bytes) {
  if (bytes == 0) return;
  make_current();
  TORUS_CUDA(cudaMemsetAsync(device, 0, bytes, compute_));
}

DeviceContext& device_context(int index) {
  static std::mutex mutex;
  // Never destroyed: at exit the CUDA runtime tears itself down in an order static
  // destructors cannot rely on (as PyTorch's allocator, the memory goes with the process).
  static auto& contexts = *new std::array<std::unique_ptr<DeviceContext>, kMaxDevices>();
  if (index < 0 || index >= kMaxDevices)
    throw ValueError("device cuda:" + std::to_string(index) + ": index out of range");
  std::lock_guard lock(mutex);
  auto& context = contexts[static_cast<size_t>(index)];
  if (!context) context = std::make_unique<DeviceContext>(index);
  return *context;
}

}  // namespace torus::cuda
