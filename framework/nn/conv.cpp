// Conv2d (see conv.h).
#include "framework/nn/conv.h"

#include "framework/nn/init.h"

namespace torus::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel, Generator& gen,
               const Conv2dOptions& geometry, bool bias, DType dtype)
    : geometry_(geometry) {
  const auto& g = geometry;
  TORUS_CHECK(in_channels > 0 && out_channels > 0 && kernel[0] > 0 && kernel[1] > 0,
              "Conv2d: channels and kernel must be positive, got {} -> {} channels, kernel {}x{}",
              in_channels, out_channels, kernel[0], kernel[1]);
  TORUS_CHECK(g.groups > 0 && in_channels % g.groups == 0 && out_channels % g.groups == 0,
              "Conv2d: groups {} must divide both {} input and {} output channels", g.groups,
              in_channels, out_channels);
  TORUS_CHECK(g.stride[0] > 0 && g.stride[1] > 0 && g.dilation[0] > 0 && g.dilation[1] > 0 &&
                  g.padding[0] >= 0 && g.padding[1] >= 0,
              "Conv2d: stride and dilation must be positive and padding >= 0, got stride {}x{}, "
              "padding {}x{}, dilation {}x{}",
              g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1]);
  const int64_t fan_in = in_channels / g.groups * kernel[0] * kernel[1];
  const double bound = init::default_uniform_bound(fan_in);
  weight_ = register_parameter(
      "weight", Tensor::rand({out_channels, in_channels / g.groups, kernel[0], kernel[1]}, gen, dtype,
                             -bound, bound));
  if (bias) bias_ = register_parameter("bias", Tensor::rand({out_channels}, gen, dtype, -bound, bound));
}

std::string Conv2d::describe() const {
  const auto& g = geometry_;
  return fmt::format("Conv2d({} -> {}, kernel {}x{}, stride {}x{}, padding {}x{}, dilation {}x{}, groups {})",
                     in_channels(), out_channels(), weight_.size(2), weight_.size(3), g.stride[0],
                     g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1], g.groups);
}

Tensor Conv2d::forward(const Tensor& x) const {
  TORUS_CHECK(x.dim() == 4 && x.size(1) == in_channels(),
              "{}: input must be (N, {}, H, W), got shape {}", describe(), in_channels(), x.shape_str());
  // The effective kernel must fit in the padded input.
  for (int d = 0; d < 2; ++d) {
    const int64_t span = geometry_.dilation[d] * (weight_.size(2 + d) - 1) + 1;
    TORUS_CHECK(x.size(2 + d) + 2 * geometry_.padding[d] >= span,
                "{}: input of shape {} is smaller than the kernel", describe(), x.shape_str());
  }
  return conv2d(x, weight_, bias_, geometry_);
}

}  // namespace torus::nn
