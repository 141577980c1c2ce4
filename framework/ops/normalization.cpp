// Layer normalization: a fused forward that saves each row's mean and 1/std, and a
// fused backward for the input, weight and bias together.
#include <algorithm>

#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/layer_norm.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// x (*, D1, ..., Dk) seen as rows (M, D) with D = D1 ... Dk.
struct Rows {
  int64_t count = 0, size = 1;
};

// x's trailing dims must equal normalized_shape (D1, ..., Dk); weight and bias, where
// defined, have that shape too.
Rows check_layer_norm_args(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                           const Tensor& bias) {
  // A device input goes to the CUDA kernels (cuda_nn_kernels.h), its parameters with it.
  if (!cuda_kernels::on_cuda(x)) check_cpu(x, "layer_norm");
  const auto k = static_cast<int64_t>(normalized_shape.size());
  TORUS_CHECK(k >= 1, "layer_norm: normalized_shape is empty (input {}); give at least one dim",
              x.shape_str());
  TORUS_CHECK(x.dim() >= k && std::equal(normalized_shape.begin(), normalized_shape.end(),
                                         x.shape().end() - k),
              "layer_norm: normalized_shape {} is not the trailing dims of input {}",
              shape_str(normalized_shape), x.shape_str());
  for (const auto& [param, name] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (!param->defined()) continue;
    if (cuda_kernels::on_cuda(x))
      check_same_device(x, *param, "layer_norm");
    else
      check_cpu(*param, "layer_norm");
    check_same_dtype(x, *param, "layer_norm");
    TORUS_CHECK(param->shape() == normalized_shape,
                "layer_norm: {} of shape {} does not match normalized_shape {}", name,
                param->shape_str(), shape_str(normalized_shape));
  }
  Rows rows;
  rows.size = shape_numel(normalized_shape);
  rows.count = rows.size == 0 ? 0 : x.numel() / rows.size;
  return rows;
}

// Contiguous data of an optional tensor, or null where it is undefined.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

Tensor contiguous_or_undefined(const Tensor& t) {
  return t.defined() ? t.detach().contiguous() : Tensor();
}

// The forward on the cpu: y, and each row's mean and 1/std for the backward.
cuda_nn_kernels::LayerNormForward layer_norm_cpu(const Tensor& input, const Tensor& w, const Tensor& b,
                                                 const Rows& rows, double eps) {
  Tensor y = Tensor::empty(input.shape(), input.dtype());
  Tensor mean = Tensor::empty({rows.count}, input.dtype());
  Tensor rstd = Tensor::empty({rows.count}, input.dtype());
  dispatch_floating(input.dtype(), "layer_norm", [&]<class T>() {
    cpu::layer_norm_forward(input.data<T>(), data_or_null<T>(w), data_or_null<T>(b), y.data<T>(),
                            mean.data<T>(), rstd.data<T>(), rows.count, rows.size,
                            static_cast<T>(eps));
  });
  return {y, mean, rstd};
}

// dx, dw, db (those wanted) on the cpu from the upstream gradient g.
cuda_nn_kernels::LayerNormGrads layer_norm_backward_cpu(const Tensor& input, const Tensor& w,
                                                        const Tensor& mean, const Tensor& rstd,
                                                        const Tensor& g, const Rows& rows,
                                                        cuda_nn_kernels::LayerNormWanted wanted,
                                                        const Shape& normalized_shape) {
  const Tensor upstream = g.contiguous();
  Tensor dx = wanted.x ? Tensor::empty(input.shape(), input.dtype()) : Tensor();
  Tensor dw = wanted.weight ? Tensor::empty(normalized_shape, input.dtype()) : Tensor();
  Tensor db = wanted.bias ? Tensor::empty(normalized_shape, input.dtype()) : Tensor();
  dispatch_floating(input.dtype(), "layer_norm backward", [&]<class T>() {
    cpu::layer_norm_backward(input.data<T>(), upstream.data<T>(), data_or_null<T>(w),
                             mean.data<T>(), rstd.data<T>(), data_or_null<T>(dx),
                             data_or_null<T>(dw), data_or_null<T>(db), rows.count, rows.size);
  });
  return {dx, dw, db};
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  TORUS_PROFILE_OP("layer_norm");
  const Rows rows = check_layer_norm_args(x, normalized_shape, weight, bias);
  const Tensor input = x.detach().contiguous();
  const Tensor w = contiguous_or_undefined(weight), b = contiguous_or_undefined(bias);
  const cuda_nn_kernels::LayerNormForward f =
      cuda_kernels::on_cuda(x)
          ? cuda_nn_kernels::layer_norm_forward(input, w, b, rows.count, rows.size, eps)
          : layer_norm_cpu(input, w, b, rows, eps);
  const Tensor y = f.y, mean = f.mean, rstd = f.rstd;
  // y = xhat * w + b with xhat = (x - mean) rstd over each row of D values. Then
  // dw = Σ_rows g xhat and db = Σ_rows g. For x, with gw = g * w:
  // dxhat_j/dx_i = rstd (δ_ij - 1/D - xhat_i xhat_j / D) (the mean and the variance both
  // depend on every x_i), so dx_i = rstd (gw_i - mean(gw) - xhat_i mean(gw xhat)).
  return record(
      "layer_norm", y, {x, weight, bias},
      [input, w, mean, rstd, rows, normalized_shape, x_grad = x.requires_grad(),
       w_grad = weight.defined() && weight.requires_grad(),
       b_grad = bias.defined() && bias.requires_grad()](const Tensor& g) {
        const cuda_nn_kernels::LayerNormWanted wanted{x_grad, w_grad, b_grad};
        const cuda_nn_kernels::LayerNormGrads d =
            cuda_kernels::on_cuda(input)
                ? cuda_nn_kernels::layer_norm_backward(input, w, mean, rstd, g, rows.count,
                                                       rows.size, wanted, normalized_shape)
                : layer_norm_backward_cpu(input, w, mean, rstd, g, rows, wanted,
                                          normalized_shape);
        return Grads{d.dx, d.dw, d.db};
      });
}

void register_normalization_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  const double r = 1e-4;  // row means and variances
  s.push_back({"layer_norm/weight_bias", {I::real({4, 6}), I::real({6}), I::real({6})}, [](const V& x) { return layer_norm(x[0], {6}, x[1], x[2]); }, "F.layer_norm(a, (6,), b, c)", r});
  s.push_back({"layer_norm/no_affine", {I::real({3, 5})}, [](const V& x) { return layer_norm(x[0], {5}, Tensor(), Tensor()); }, "F.layer_norm(a, (5,))", r});
  s.push_back({"layer_norm/weight_only_3d", {I::real({2, 3, 4}), I::real({4})}, [](const V& x) { return layer_norm(x[0], {4}, x[1], Tensor()); }, "F.layer_norm(a, (4,), b)", r});
  s.push_back({"layer_norm/bias_only", {I::real({3, 4}), I::real({4})}, [](const V& x) { return layer_norm(x[0], {4}, Tensor(), x[1]); }, "F.layer_norm(a, (4,), None, b)", r});
  s.push_back({"layer_norm/2d_shape", {I::real({2, 3, 4}), I::real({3, 4}), I::real({3, 4})}, [](const V& x) { return layer_norm(x[0], {3, 4}, x[1], x[2]); }, "F.layer_norm(a, (3, 4), b, c)", r});
  s.push_back({"layer_norm/strided", {I::strided({5, 4}), I::real({4}), I::real({4})}, [](const V& x) { return layer_norm(x[0], {4}, x[1], x[2]); }, "F.layer_norm(a, (4,), b, c)", r});
  s.push_back({"layer_norm/strided_params_eps", {I::real({2, 4, 3}), I::strided({4, 3}), I::constant({4, 3})}, [](const V& x) { return layer_norm(x[0], {4, 3}, x[1], x[2], 1e-2); }, "F.layer_norm(a, (4, 3), b, c, eps=1e-2)", r});
}

}  // namespace torus
