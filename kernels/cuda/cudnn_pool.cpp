// cuDNN 2-D max pooling (cudnn_pool.h): descriptors from a Pool2dShape and the two calls.
#include "kernels/cuda/cudnn_pool.h"

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::cuda {
namespace {

struct PoolDescriptors {
  TensorDescriptor x, y;
  PoolingDescriptor pool;

  explicit PoolDescriptors(const Pool2dShape& s) {
    const std::string error = pool2d_shape_error(s);
    TORUS_CHECK(error.empty(), "{}", error);
    set_nchw(x, s.batch, s.channels, s.height, s.width);
    set_nchw(y, s.batch, s.channels, s.out_h(), s.out_w());
    TORUS_CUDNN(cudnnSetPooling2dDescriptor(pool.get(), CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_PROPAGATE_NAN,
                                            static_cast<int>(s.kernel[0]), static_cast<int>(s.kernel[1]),
                                            static_cast<int>(s.padding[0]), static_cast<int>(s.padding[1]),
                                            static_cast<int>(s.stride_h()), static_cast<int>(s.stride_w())));
    int n = 0, c = 0, h = 0, w = 0;
    TORUS_CUDNN(cudnnGetPooling2dForwardOutputDim(pool.get(), x.get(), &n, &c, &h, &w));
    TORUS_ASSERT(n == s.batch && c == s.channels && h == s.out_h() && w == s.out_w(),
                 "max_pool2d: cuDNN's output ({}, {}, {}, {}) differs from ours ({}, {}, {}, {})", n, c, h, w,
                 s.batch, s.channels, s.out_h(), s.out_w());
  }
};

}  // namespace

void max_pool2d_forward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, float* y) {
  if (shape.batch == 0) {
    const std::string error = pool2d_shape_error(shape);
    TORUS_CHECK(error.empty(), "{}", error);
    return;
  }
  const PoolDescriptors d(shape);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnPoolingForward(handle.get(), d.pool.get(), &one, d.x.get(), x, &zero, d.y.get(), y));
}

void max_pool2d_backward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, const float* y,
                         const float* grad_y, float* grad_x) {
  if (shape.batch == 0) {
    const std::string error = pool2d_shape_error(shape);
    TORUS_CHECK(error.empty(), "{}", error);
    return;
  }
  const PoolDescriptors d(shape);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnPoolingBackward(handle.get(), d.pool.get(), &one, d.y.get(), y, d.y.get(), grad_y, d.x.get(), x,
                                   &zero, d.x.get(), grad_x));
}

}  // namespace torus::cuda
