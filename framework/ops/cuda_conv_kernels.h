// The CUDA column of conv_pool.cpp: 2-D convolution and pooling on a device through cuDNN
// (kernels/cuda/cudnn_conv.h, cudnn_pool.h), on the device's compute stream. The op checks
// the arguments and owns the autograd record; these take its geometry, check f32 and the
// device, and return new contiguous NCHW device tensors. A build without cuDNN links
// cuda_conv_kernels_off.cpp, whose functions refuse by name.
#pragma once

#include <array>
#include <cstdint>

#include "framework/tensor/tensor.h"

namespace torus::cuda_conv_kernels {

// The convolution's geometry, as conv_pool.cpp's plan has it.
struct Conv2dGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;  // x (N, C, H, W)
  int64_t out_channels = 0, kernel_h = 1, kernel_w = 1;    // weight (O, C/G, kh, kw)
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

// y = conv(x, weight) + bias (bias undefined for none).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& geometry);
// The gradients of x and of the weight from the upstream gradient g (N, O, OH, OW).
Tensor conv2d_input_grad(const Tensor& g, const Tensor& weight, const Conv2dGeometry& geometry);
Tensor conv2d_weight_grad(const Tensor& g, const Tensor& x, const Conv2dGeometry& geometry);

enum class Pool { max, average };

// The pooling's geometry, as conv_pool.cpp's plan has it (stride already resolved).
struct Pool2dGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  std::array<int64_t, 2> kernel{2, 2}, stride{2, 2}, padding{0, 0};
};

Tensor pool2d(Pool mode, const Tensor& x, const Pool2dGeometry& geometry);
// dx from the forward's x and y and the upstream gradient g.
Tensor pool2d_backward(Pool mode, const Tensor& x, const Tensor& y, const Tensor& g, const Pool2dGeometry& geometry);

}  // namespace torus::cuda_conv_kernels
