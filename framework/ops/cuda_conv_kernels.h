// The CUDA column of conv_pool.cpp: 2-D convolution and pooling on a device through cuDNN
// (kernels/cuda/cudnn_conv.h, cudnn_pool.h), on the device's compute stream. The op checks
// the arguments and owns the autograd record; these take its geometry, check f32 and the
// device, and return new contiguous NCHW device tensors. A build without cuDNN links
// cuda_conv_kernels_off.cpp, whose functions refuse by name.
#pragma once

#include "framework/tensor/tensor.h"
#include "kernels/cuda/conv_pool_shape.h"

namespace torus::cuda_conv_kernels {

// The geometry is the kernels' own (kernels/cuda/conv_pool_shape.h, host-only): x (N, C, H, W),
// weight (O, C/G, kh, kw), with Conv2dOptions' stride, padding, dilation and groups.
using Conv2dGeometry = cuda::Conv2dShape;
using Pool2dGeometry = cuda::Pool2dShape;

// y = conv(x, weight) + bias (bias undefined for none).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& geometry);
// The gradients of x and of the weight from the upstream gradient g (N, O, OH, OW).
Tensor conv2d_input_grad(const Tensor& g, const Tensor& weight, const Conv2dGeometry& geometry);
Tensor conv2d_weight_grad(const Tensor& g, const Tensor& x, const Conv2dGeometry& geometry);

enum class Pool { max, average };

Tensor pool2d(Pool mode, const Tensor& x, const Pool2dGeometry& geometry);
// dx from the forward's x and y and the upstream gradient g.
Tensor pool2d_backward(Pool mode, const Tensor& x, const Tensor& y, const Tensor& g, const Pool2dGeometry& geometry);

}  // namespace torus::cuda_conv_kernels
