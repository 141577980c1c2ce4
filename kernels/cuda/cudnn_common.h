// What the cuDNN convolution and pooling (cudnn_conv.h, cudnn_pool.h) share: a cuDNN handle
// bound to a stream with a workspace that grows on demand and a cache of the convolution
// algorithms chosen per shape, and RAII wrappers of the descriptors. Built only with
// TORUS_WITH_CUDNN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "kernels/cuda/check.h"

namespace torus::cuda {

// A convolution algorithm as chosen for one shape and direction (cudnn_conv.cpp).
struct ConvAlgoChoice {
  int algo = 0;                              // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_FMA_MATH;     // what the convolution descriptor is set to
  size_t workspace_bytes = 0;
};

// Not thread-safe: one per (device, stream), as BlasHandles (gemm.h).
class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t stream);
  ~CudnnHandle();
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;

  void set_stream(cudaStream_t stream);
  cudaStream_t stream() const { return stream_; }
  cudnnHandle_t get() const { return handle_; }

  // At least `bytes` of device workspace (nullptr for 0). Growing synchronizes the stream
  // first, since queued work may still use the old buffer; it never shrinks, so a training
  // loop's steady state allocates nothing.
  void* workspace(size_t bytes);
  size_t workspace_bytes() const { return workspace_bytes_; }

  // Chosen algorithms by key (the direction, the shape and the options); exhaustive
  // searches run once per key.
  std::map<std::string, ConvAlgoChoice>& algorithm_cache() { return algorithms_; }

 private:
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::string, ConvAlgoChoice> algorithms_;
};

// The handle of device `index`, on its compute stream (device_context.h), made on first use
// and kept until exit as the device's context is: what the framework's conv2d and pooling
// use. Making it is thread-safe; using it is not (ops run on one thread per device).
CudnnHandle& device_cudnn_handle(int index);

// One owner per cuDNN descriptor; Create in the constructor, Destroy in the destructor.
template <class Descriptor, cudnnStatus_t (*Create)(Descriptor*), cudnnStatus_t (*Destroy)(Descriptor)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { TORUS_CUDNN(Create(&descriptor_)); }
  ~CudnnDescriptor() { (void)Destroy(descriptor_); }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  Descriptor get() const { return descriptor_; }

 private:
  Descriptor descriptor_ = nullptr;
};

using TensorDescriptor =
    CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor = CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                                              cudnnDestroyConvolutionDescriptor>;
using PoolingDescriptor =
    CudnnDescriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;

// A contiguous NCHW f32 tensor descriptor (sizes checked to fit int by the shape checks).
void set_nchw(const TensorDescriptor& d, int64_t n, int64_t c, int64_t h, int64_t w);

}  // namespace torus::cuda
