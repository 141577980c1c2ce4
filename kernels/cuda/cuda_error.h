// The errors the CUDA checks (check.h) throw, for code that catches them.
#pragma once

#include "kernels/common/error.h"

namespace torus::cuda {

// A failed CUDA runtime, cuBLAS or cuDNN call; code() is the library's status value.
class CudaError : public Error {
 public:
  CudaError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// cudaErrorMemoryAllocation (and the caching allocator giving up), so callers may free
// memory and retry, or report the allocator's statistics.
class CudaOutOfMemoryError : public CudaError {
 public:
  using CudaError::CudaError;
};

// A failed NCCL call.
class NcclError : public Error {
 public:
  NcclError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

}  // namespace torus::cuda
