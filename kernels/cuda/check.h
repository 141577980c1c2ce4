// Checks for every CUDA runtime, cuBLAS, cuDNN and NCCL return code: a failure throws an
// error (cuda_error.h) naming the call as written, the file and line, and the library's own
// description. Only the CUDA runtime's header is included; TORUS_CUBLAS / TORUS_CUDNN /
// TORUS_NCCL expand to their library's error-string function, which the caller's file
// already sees since it makes the call. No fmt here: nvcc cannot compile fmt 9's headers in
// C++20, so .cu files use these macros and TORUS_CUDA_EXPECT instead of TORUS_CHECK.
#pragma once

#include <sstream>
#include <string>

#include <cuda_runtime_api.h>

namespace torus::cuda::detail {

[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);
// library: "cuBLAS", "cuDNN", "NCCL"; description: the library's string for the code;
// detail: more context where the library has it (ncclGetLastError), else nullptr.
[[noreturn]] void throw_library_error(const char* library, int code, const char* description,
                                      const char* detail, const char* call, const char* file,
                                      int line);
// A ValueError with the message (a launcher's precondition on its arguments).
[[noreturn]] void throw_value_error(const std::string& message);

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace torus::cuda::detail

// TORUS_CHECK for .cu files: the message is the arguments streamed one after another.
#define TORUS_CUDA_EXPECT(cond, ...)                                                     \
  do {                                                                                   \
    if (!(cond)) ::torus::cuda::detail::throw_value_error(::torus::cuda::detail::concat(__VA_ARGS__)); \
  } while (0)

#define TORUS_CUDA(call)                                                                 \
  do {                                                                                   \
    const cudaError_t torus_cuda_code_ = (call);                                         \
    if (torus_cuda_code_ != cudaSuccess)                                                 \
      ::torus::cuda::detail::throw_cuda_error(torus_cuda_code_, #call, __FILE__, __LINE__); \
  } while (0)

// After every kernel launch: launch errors (bad configuration, no device) surface only
// through cudaGetLastError.
#define TORUS_CUDA_CHECK_LAUNCH(kernel_name)                                             \
  do {                                                                                   \
    const cudaError_t torus_cuda_code_ = cudaGetLastError();                             \
    if (torus_cuda_code_ != cudaSuccess)                                                 \
      ::torus::cuda::detail::throw_cuda_error(torus_cuda_code_, "launch of " kernel_name, \
                                              __FILE__, __LINE__);                        \
  } while (0)

#define TORUS_CUBLAS(call)                                                               \
  do {                                                                                   \
    const cublasStatus_t torus_cublas_code_ = (call);                                    \
    if (torus_cublas_code_ != CUBLAS_STATUS_SUCCESS)                                     \
      ::torus::cuda::detail::throw_library_error(                                        \
          "cuBLAS", static_cast<int>(torus_cublas_code_),                                \
          cublasGetStatusString(torus_cublas_code_), nullptr, #call, __FILE__, __LINE__); \
  } while (0)

#define TORUS_CUDNN(call)                                                                \
  do {                                                                                   \
    const cudnnStatus_t torus_cudnn_code_ = (call);                                      \
    if (torus_cudnn_code_ != CUDNN_STATUS_SUCCESS)                                       \
      ::torus::cuda::detail::throw_library_error(                                        \
          "cuDNN", static_cast<int>(torus_cudnn_code_),                                  \
          cudnnGetErrorString(torus_cudnn_code_), nullptr, #call, __FILE__, __LINE__);   \
  } while (0)

// ncclGetLastError(nullptr) gives the last failure's details (which rank, which socket).
#define TORUS_NCCL(call)                                                                 \
  do {                                                                                   \
    const ncclResult_t torus_nccl_code_ = (call);                                        \
    if (torus_nccl_code_ != ncclSuccess)                                                 \
      ::torus::cuda::detail::throw_library_error(                                        \
          "NCCL", static_cast<int>(torus_nccl_code_), ncclGetErrorString(torus_nccl_code_), \
          ncclGetLastError(nullptr), #call, __FILE__, __LINE__);                          \
  } while (0)
