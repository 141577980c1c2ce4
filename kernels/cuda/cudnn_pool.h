// 2-D max and average pooling on the GPU through cuDNN, NCHW f32, forward and backward, with
// the parameters of torus::Pool2dOptions (kernel, stride with 0 meaning the kernel, padding at
// most half the kernel) as the CPU's max_pool2d and avg_pool2d. The average divides by the
// whole window, padding included (CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING), as the CPU
// and PyTorch's default. Letters as in conv_pool_shape.h. Built only with TORUS_WITH_CUDNN.
//
// As the CPU: NaN propagates (CUDNN_PROPAGATE_NAN: a window holding NaN gives NaN) and
// padding never wins. Unlike the CPU, no argmax is kept: the backward recomputes each
// window's maximum from x and y; CUDNN_POOLING_MAX_DETERMINISTIC makes overlapping windows'
// gradient sums reproducible.
#pragma once

#include "kernels/cuda/conv_pool_shape.h"
#include "kernels/cuda/cudnn_common.h"

namespace torus::cuda {

// y (N, C, OH, OW) = the max of each window of x (N, C, H, W).
void max_pool2d_forward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, float* y);

// grad_x (N, C, H, W) = grad_y (N, C, OH, OW) routed to each window's maximum, from the
// forward's x and y. grad_x is overwritten.
void max_pool2d_backward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, const float* y,
                         const float* grad_y, float* grad_x);

// The same for the average of each window; its backward spreads grad_y evenly over each
// window (x and y are cuDNN's arguments, not read for averages).
void avg_pool2d_forward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, float* y);
void avg_pool2d_backward(CudnnHandle& handle, const Pool2dShape& shape, const float* x, const float* y,
                         const float* grad_y, float* grad_x);

}  // namespace torus::cuda
