// 2-D convolution on the GPU through cuDNN, NCHW f32, forward and the three backward passes,
// with the parameters of torus::Conv2dOptions (stride, padding, dilation, groups) so the
// framework's conv2d can dispatch here as it does to the CPU's im2col + GEMM. Letters as in
// conv_pool_shape.h. Built only with TORUS_WITH_CUDNN.
//
// Algorithms: per shape, direction and options, cuDNN's ranked list (the _v7 heuristics, or
// with options.exhaustive a timed cudnnFind*AlgorithmEx) filtered by acceptable_algorithms()
// (conv_pool_shape.h), the first whose workspace cuDNN confirms under the limit is taken, and
// the choice is cached in the handle. Outputs are overwritten (beta = 0), never accumulated,
// so the exhaustive search may use them as scratch.
#pragma once

#include "kernels/cuda/conv_pool_shape.h"
#include "kernels/cuda/cudnn_common.h"

namespace torus::cuda {

// y (N, O, OH, OW) = conv(x (N, C, H, W), weight (O, C/G, kh, kw)) + bias (O), bias nullptr
// for none. All on handle.stream(), contiguous.
void conv2d_forward(CudnnHandle& handle, const Conv2dShape& shape, const float* x, const float* weight,
                    const float* bias, float* y, const ConvAlgoOptions& options = {});

// grad_x (N, C, H, W) from weight and grad_y (N, O, OH, OW).
void conv2d_backward_data(CudnnHandle& handle, const Conv2dShape& shape, const float* weight, const float* grad_y,
                          float* grad_x, const ConvAlgoOptions& options = {});

// grad_weight (O, C/G, kh, kw) from x and grad_y.
void conv2d_backward_filter(CudnnHandle& handle, const Conv2dShape& shape, const float* x, const float* grad_y,
                            float* grad_weight, const ConvAlgoOptions& options = {});

// grad_bias (O) = the sum of grad_y over N, OH, OW.
void conv2d_backward_bias(CudnnHandle& handle, const Conv2dShape& shape, const float* grad_y, float* grad_bias);

}  // namespace torus::cuda
