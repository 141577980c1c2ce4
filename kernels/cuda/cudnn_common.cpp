// The cuDNN handle and its workspace (cudnn_common.h).
#include "kernels/cuda/cudnn_common.h"

#include <map>
#include <mutex>

#include <cuda_runtime.h>

#include "kernels/cuda/device_context.h"

namespace torus::cuda {

CudnnHandle::CudnnHandle(cudaStream_t stream) : stream_(stream) {
  TORUS_CUDNN(cudnnCreate(&handle_));
  try {
    TORUS_CUDNN(cudnnSetStream(handle_, stream_));
  } catch (...) {
    (void)cudnnDestroy(handle_);
    throw;
  }
}

CudnnHandle::~CudnnHandle() {
  // cudaFree waits for the device, so no queued convolution still uses the workspace.
  if (workspace_ != nullptr) (void)cudaFree(workspace_);
  (void)cudnnDestroy(handle_);
}

void CudnnHandle::set_stream(cudaStream_t stream) {
  TORUS_CUDNN(cudnnSetStream(handle_, stream));
  stream_ = stream;
}

void* CudnnHandle::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  TORUS_CUDA(cudaStreamSynchronize(stream_));
  if (workspace_ != nullptr) TORUS_CUDA(cudaFree(workspace_));
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  TORUS_CUDA(cudaMalloc(&workspace_, bytes));
  workspace_bytes_ = bytes;
  return workspace_;
}

CudnnHandle& device_cudnn_handle(int index) {
  static std::mutex mutex;
  static auto* handles = new std::map<int, CudnnHandle*>();  // leaked: contexts outlive static destructors
  const std::lock_guard<std::mutex> lock(mutex);
  CudnnHandle*& handle = (*handles)[index];
  if (handle == nullptr) {
    DeviceContext& context = device_context(index);
    context.make_current();
    handle = new CudnnHandle(context.compute_stream());
  }
  return *handle;
}

void set_nchw(const TensorDescriptor& d, int64_t n, int64_t c, int64_t h, int64_t w) {
  TORUS_CUDNN(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(n),
                                         static_cast<int>(c), static_cast<int>(h), static_cast<int>(w)));
}

}  // namespace torus::cuda
