// cuda_conv_kernels.h through cuDNN: geometry to cuDNN's shapes, tensors to device pointers.
#include "framework/ops/cuda_conv_kernels.h"

#include "framework/ops/autocast.h"
#include "framework/ops/deterministic.h"
#include "framework/ops/cuda_launch.h"
#include "framework/ops/elementwise.h"
#include "kernels/cuda/cudnn_conv.h"
#include "kernels/cuda/cudnn_pool.h"

namespace torus::cuda_conv_kernels {
namespace {

using cuda_launch::check_f32;
using cuda_launch::context_of;

// The device's cuDNN handle, after the f32 and same-device checks of a and b.
cuda::CudnnHandle& handle_for(const Tensor& a, const Tensor& b, std::string_view op) {
  check_f32(a, op);
  check_f32(b, op);
  check_same_device(a, b, op);
  context_of(a);  // asserts a device tensor and makes its device current
  return cuda::device_cudnn_handle(a.device().index);
}

// The algorithm choice: cuDNN's heuristics, TF32 only when allowed (autocast.h), only
// deterministic algorithms when asked for (deterministic.h).
cuda::ConvAlgoOptions algo_options() {
  cuda::ConvAlgoOptions o;
  o.allow_tf32 = allow_tf32();
  o.deterministic = deterministic_algorithms();
  return o;
}

const float* in(const Tensor& t) { return static_cast<const float*>(t.raw_data()); }
float* out(const Tensor& t) { return static_cast<float*>(t.raw_data()); }

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const Conv2dGeometry& geometry) {
  cuda::CudnnHandle& handle = handle_for(x_in, weight_in, "conv2d");
  const cuda::Conv2dShape& s = geometry;
  const Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
  Tensor bias;
  if (bias_in.defined()) {
    check_f32(bias_in, "conv2d");
    check_same_device(x_in, bias_in, "conv2d");
    bias = bias_in.contiguous();
  }
  Tensor y = Tensor::empty({s.batch, s.out_channels, s.out_h(), s.out_w()}, DType::f32, x.device());
  cuda::conv2d_forward(handle, s, in(x), in(weight), bias.defined() ? in(bias) : nullptr, out(y), algo_options());
  return y;
}

Tensor conv2d_input_grad(const Tensor& g_in, const Tensor& weight_in, const Conv2dGeometry& geometry) {
  cuda::CudnnHandle& handle = handle_for(g_in, weight_in, "conv2d backward");
  const cuda::Conv2dShape& s = geometry;
  const Tensor g = g_in.contiguous(), weight = weight_in.contiguous();
  Tensor dx = Tensor::empty({s.batch, s.channels, s.height, s.width}, DType::f32, g.device());
  cuda::conv2d_backward_data(handle, s, in(weight), in(g), out(dx), algo_options());
  return dx;
}

Tensor conv2d_weight_grad(const Tensor& g_in, const Tensor& x_in, const Conv2dGeometry& geometry) {
  cuda::CudnnHandle& handle = handle_for(g_in, x_in, "conv2d backward");
  const cuda::Conv2dShape& s = geometry;
  const Tensor g = g_in.contiguous(), x = x_in.contiguous();
  Tensor dw = Tensor::empty({s.out_channels, s.channels / s.groups, s.kernel_h, s.kernel_w}, DType::f32, g.device());
  cuda::conv2d_backward_filter(handle, s, in(x), in(g), out(dw), algo_options());
  return dw;
}

Tensor pool2d(Pool mode, const Tensor& x_in, const Pool2dGeometry& geometry) {
  const char* op = mode == Pool::max ? "max_pool2d" : "avg_pool2d";
  cuda::CudnnHandle& handle = handle_for(x_in, x_in, op);
  const cuda::Pool2dShape& s = geometry;
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty({s.batch, s.channels, s.out_h(), s.out_w()}, DType::f32, x.device());
  if (mode == Pool::max) {
    cuda::max_pool2d_forward(handle, s, in(x), out(y));
  } else {
    cuda::avg_pool2d_forward(handle, s, in(x), out(y));
  }
  return y;
}

Tensor pool2d_backward(Pool mode, const Tensor& x_in, const Tensor& y_in, const Tensor& g_in,
                       const Pool2dGeometry& geometry) {
  const char* op = mode == Pool::max ? "max_pool2d backward" : "avg_pool2d backward";
  cuda::CudnnHandle& handle = handle_for(x_in, g_in, op);
  const cuda::Pool2dShape& s = geometry;
  const Tensor x = x_in.contiguous(), y = y_in.contiguous(), g = g_in.contiguous();
  Tensor dx = Tensor::empty(x.shape(), DType::f32, x.device());
  if (mode == Pool::max) {
    cuda::max_pool2d_backward(handle, s, in(x), in(y), in(g), out(dx));
  } else {
    cuda::avg_pool2d_backward(handle, s, in(x), in(y), in(g), out(dx));
  }
  return dx;
}

}  // namespace torus::cuda_conv_kernels
