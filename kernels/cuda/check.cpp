// Out-of-line throw helpers for kernels/cuda/check.h, so each check site stays small.
#include "kernels/cuda/check.h"

#include "kernels/cuda/cuda_error.h"

#include <cstring>
#include <string>

namespace torus::cuda::detail {

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  const std::string message = fmt::format("CUDA error: {} failed: {} ({}, code {}) at {}:{}", call,
                                          cudaGetErrorString(code), cudaGetErrorName(code),
                                          static_cast<int>(code), file, line);
  if (code == cudaErrorMemoryAllocation) throw CudaOutOfMemoryError(message, static_cast<int>(code));
  throw CudaError(message, static_cast<int>(code));
}

void throw_library_error(const char* library, int code, const char* description, const char* detail,
                         const char* call, const char* file, int line) {
  const bool has_detail = detail != nullptr && *detail != '\0';
  const std::string message =
      fmt::format("{} error: {} failed: {} (code {}){}{} at {}:{}", library, call,
                  description ? description : "unknown status", code, has_detail ? ": " : "",
                  has_detail ? detail : "", file, line);
  if (std::strcmp(library, "NCCL") == 0) throw NcclError(message, code);
  throw CudaError(message, code);
}

void throw_value_error(const std::string& message) { throw ValueError(message); }

}  // namespace torus::cuda::detail
