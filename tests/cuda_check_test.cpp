// The CUDA, cuBLAS, cuDNN and NCCL checks (kernels/cuda/check.h): each failure names the
// call, the file and the line and the library's description, as the right error type.
// The error-string functions need no GPU, so this runs everywhere the CUDA build does.
#include <gtest/gtest.h>

#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_error.h"
#include "support/error_message.h"
#if TORUS_TEST_CUDNN
#include <cudnn.h>
#endif
#if TORUS_TEST_NCCL
#include <nccl.h>
#endif

namespace torus::cuda {
namespace {

cudaError_t fails_with(cudaError_t code) { return code; }


void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

TEST(CudaCheck, SuccessPassesThrough) {
  EXPECT_NO_THROW(TORUS_CUDA(fails_with(cudaSuccess)));
  EXPECT_NO_THROW(TORUS_CUBLAS(CUBLAS_STATUS_SUCCESS));
}

TEST(CudaCheck, RuntimeErrorNamesTheCallFileAndLine) {
  const int line = __LINE__ + 1;
  const std::string what = test::error_of<Error>([] { TORUS_CUDA(fails_with(cudaErrorInvalidValue)); });
  expect_contains(what, "fails_with(cudaErrorInvalidValue) failed");
  expect_contains(what, "invalid argument");
  expect_contains(what, "cudaErrorInvalidValue");
  expect_contains(what, "cuda_check_test.cpp:" + std::to_string(line));
  EXPECT_THROW(TORUS_CUDA(fails_with(cudaErrorInvalidValue)), CudaError);
}

TEST(CudaCheck, OutOfMemoryHasItsOwnType) {
  EXPECT_THROW(TORUS_CUDA(fails_with(cudaErrorMemoryAllocation)), CudaOutOfMemoryError);
}

TEST(CudaCheck, CublasStatusIsDescribed) {
  const std::string what = test::error_of<Error>([] { TORUS_CUBLAS(CUBLAS_STATUS_NOT_INITIALIZED); });
  expect_contains(what, "cuBLAS error: CUBLAS_STATUS_NOT_INITIALIZED failed");
  expect_contains(what, "cuda_check_test.cpp:");
  EXPECT_THROW(TORUS_CUBLAS(CUBLAS_STATUS_INVALID_VALUE), CudaError);
}

#if TORUS_TEST_CUDNN
TEST(CudaCheck, CudnnStatusIsDescribed) {
  const std::string what = test::error_of<Error>([] { TORUS_CUDNN(CUDNN_STATUS_BAD_PARAM); });
  expect_contains(what, "cuDNN error: CUDNN_STATUS_BAD_PARAM failed: CUDNN_STATUS_BAD_PARAM");
  EXPECT_THROW(TORUS_CUDNN(CUDNN_STATUS_BAD_PARAM), CudaError);
}
#endif

#if TORUS_TEST_NCCL
TEST(CudaCheck, NcclResultIsDescribedAsAnNcclError) {
  const std::string what = test::error_of<Error>([] { TORUS_NCCL(ncclInvalidArgument); });
  expect_contains(what, "NCCL error: ncclInvalidArgument failed: invalid argument");
  EXPECT_THROW(TORUS_NCCL(ncclInvalidArgument), NcclError);
}
#endif

TEST(CudaCheck, LaunchCheckReportsTheKernel) {
  // Without a usable device the runtime's initialisation error stays pending (it is sticky),
  // so the launch check reports it under the kernel's name; with a device nothing is pending.
  int count = 0;
  const cudaError_t code = cudaGetDeviceCount(&count);
  if (code == cudaSuccess && count > 0) {
    EXPECT_NO_THROW(TORUS_CUDA_CHECK_LAUNCH("no_kernel"));
  } else {
    const std::string what = test::error_of<Error>([] { TORUS_CUDA_CHECK_LAUNCH("no_kernel"); });
    expect_contains(what, "launch of no_kernel failed");
    expect_contains(what, cudaGetErrorString(code));
  }
}

TEST(CudaCheck, ExpectStreamsItsMessage) {
  const std::string what = test::error_of<Error>([] { TORUS_CUDA_EXPECT(1 + 1 == 3, "rows ", 4, " cols ", 2.5); });
  EXPECT_EQ(what, "rows 4 cols 2.5");
  EXPECT_THROW(TORUS_CUDA_EXPECT(false, "x"), ValueError);
}

}  // namespace
}  // namespace torus::cuda
