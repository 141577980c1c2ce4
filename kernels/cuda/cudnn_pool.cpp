// cuDNN 2-D max and average pooling (cudnn_pool.h): descriptors from a Pool2dShape and the calls.
#include "kernels/cuda/cudnn_pool.h"

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::cuda {
namespace {

struct PoolDescriptors {
  TensorDescriptor x, y;
  PoolingDescriptor pool;

  PoolDescriptors(const Pool2dShape& s, cudnnPoolingMode_t mode) {
    const std::string error = pool2d_shape_error(s);
    TORUS_CHECK(error.empty(), "{}", error);
    set_nchw(x, s.batch, s.channels, s.height, s.width);
    set_nchw(y, s.batch, s.channels, s.out_h(), s.out_w());
    TORUS_CUDNN(cudnnSetPooling2dDescriptor(pool.get(), mode, CUDNN_PROPAGATE_NAN,
                                            static_cast<int>(s.kernel[0]), static_cast<int>(s.kernel[1]),
                                            static_cast<int>(s.padding[0]), static_cast<int>(s.padding[1]),
                                            static_cast<int>(s.stride_h()), static_cast<int>(s.stride_w())));
    int n = 0, c = 0, h = 0, w = 0;
    TORUS_CUDNN(cudnnGetPooling2dForwardOutputDim(pool.get(), x.get(), &n, &c, &h, &w));
    TORUS_ASSERT(n == s.batch && c == s.channels && h == s.out_h() && w == s.out_w(),
                 "pool2d: cuDNN's output ({}, {}, {}, {}) differs from ours ({}, {}, {}, {})", n, c, h, w,
                 s.batch, s.channels, s.out_h(), s.out_w());
  }
};

// y = the pooling of x in `mode`; nothing to run for an empty batch, after the checks.
void pool_forward(CudnnHandle& handle, cudnnPoolingMode_t mode, const Pool2dShape& shape, const float* x, float* y) {
  if (shape.batch == 0) {
    const std::string error = pool2d_shape_error(shape);
    TORUS_CHECK(error.empty(), "{}", error);
    return;
  }
  const PoolDescriptors d(shape, mode);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnPoolingForward(handle.get(), d.pool.get(), &one, d.x.get(), x, &zero, d.y.get(), y));
}

void pool_backward(CudnnHandle& handle, cudnnPoolingMode_t mode, const Pool2dShape& shape, const float* x,
                   const float* y, const float* grad_y, float* grad_x) {
  if (shape.batch == 0) {
    const std::string error = pool2d_shape_error(shape);
    TORUS_CHECK(error.empty(), "{}", error);
    return;
  }
  const PoolDescriptors d(shape, mode);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnPoolingBackward(handle.get(), d.pool.get(), &one, d.y.get(), y, d.y.get(), grad_y, d.x.get(), x,
                                   &zero, d.x.get(), grad_x));
}

}  // namespace

void max_pool2d_forward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, float* y) {
  pool_forward(handle, CUDNN_POOLING_MAX_DETERMINISTIC, shape, x, y);
}

void max_pool2d_backward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, const float* y,
                         const float* grad_y, float* grad_x) {
  pool_backward(handle, CUDNN_POOLING_MAX_DETERMINISTIC, shape, x, y, grad_y, grad_x);
}

void avg_pool2d_forward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, float* y) {
  pool_forward(handle, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING, shape, x, y);
}

void avg_pool2d_backward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, const float* y,
                         const float* grad_y, float* grad_x) {
  pool_backward(handle, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING, shape, x, y, grad_y, grad_x);
}

}  // namespace torus::cuda
