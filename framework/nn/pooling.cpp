// MaxPool2d and AvgPool2d (see pooling.h).
#include "framework/nn/pooling.h"

namespace torus::nn {
namespace {

// Resolves stride 0 to the kernel (PyTorch's default) and checks the geometry.
Pool2dOptions checked(Pool2dOptions o, const char* module) {
  for (int d = 0; d < 2; ++d) {
    if (o.stride[d] == 0) o.stride[d] = o.kernel[d];
    TORUS_CHECK(o.kernel[d] > 0 && o.stride[d] > 0 && o.padding[d] >= 0 && 2 * o.padding[d] <= o.kernel[d],
                "{}: kernel and stride must be positive and padding at most half the kernel, got "
                "kernel {}x{}, stride {}x{}, padding {}x{}",
                module, o.kernel[0], o.kernel[1], o.stride[0], o.stride[1], o.padding[0], o.padding[1]);
  }
  return o;
}

void check_input(const Tensor& x, const Pool2dOptions& o, const char* module) {
  TORUS_CHECK(x.dim() == 4, "{}(kernel {}x{}): input must be (N, C, H, W), got shape {}", module,
              o.kernel[0], o.kernel[1], x.shape_str());
  TORUS_CHECK(x.size(2) + 2 * o.padding[0] >= o.kernel[0] && x.size(3) + 2 * o.padding[1] >= o.kernel[1],
              "{}(kernel {}x{}): input of shape {} is smaller than the kernel", module, o.kernel[0],
              o.kernel[1], x.shape_str());
}

}  // namespace

MaxPool2d::MaxPool2d(const Pool2dOptions& options) : options_(checked(options, "MaxPool2d")) {}

Tensor MaxPool2d::forward(const Tensor& x) const {
  check_input(x, options_, "MaxPool2d");
  return max_pool2d(x, options_);
}

AvgPool2d::AvgPool2d(const Pool2dOptions& options) : options_(checked(options, "AvgPool2d")) {}

Tensor AvgPool2d::forward(const Tensor& x) const {
  check_input(x, options_, "AvgPool2d");
  return avg_pool2d(x, options_);
}

}  // namespace torus::nn
