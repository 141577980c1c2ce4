// Losses: cross-entropy with class-index targets (fused log-softmax + NLL + label
// smoothing, as torch.nn.functional.cross_entropy with reduction='mean') and mean
// squared error.
#include <limits>

#include <fmt/ranges.h>

#include "framework/profile/profiler.h"
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/device_checks.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cpu/reduce.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// Shapes, with C classes: logits (N, C) and target (N); logits (C) and a scalar target
// (one unbatched sample); logits (N, C, d1, ..., dk) and target (N, d1, ..., dk) (a
// class score per position, e.g. per pixel).
void check_cross_entropy_args(const Tensor& logits, const Tensor& target,
                              const CrossEntropyOptions& options) {
  // Device logits go to the CUDA kernels (cuda_nn_kernels.h), with targets on their device.
  if (cuda_kernels::on_cuda(logits)) {
    check_same_device(logits, target, "cross_entropy");
  } else {
    check_cpu(logits, "cross_entropy");
    check_cpu(target, "cross_entropy");
  }
  TORUS_CHECK(target.dtype() == DType::i64 || target.dtype() == DType::i32,
              "cross_entropy: target must hold class indices (i64 or i32), got {}; class "
              "probability targets are not supported",
              dtype_name(target.dtype()));
  TORUS_CHECK(logits.dim() >= 1, "cross_entropy: logits must have a class dim, got shape {}",
              logits.shape_str());
  Shape expected = logits.shape();
  expected.erase(expected.begin() + (logits.dim() == 1 ? 0 : 1));
  TORUS_CHECK(target.shape() == expected,
              "cross_entropy: target of shape {} does not fit logits of shape {} (expected "
              "target shape {}: the logits' shape without the class dim)",
              target.shape_str(), logits.shape_str(), shape_str(expected));
  TORUS_CHECK(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0,
              "cross_entropy: label_smoothing {} is not in [0, 1]", options.label_smoothing);
}

int64_t class_count(const Tensor& logits) { return logits.size(logits.dim() == 1 ? 0 : 1); }

// The class dim moved last: (N, C, d1, ..., dk) -> (N, d1, ..., dk, C) as a permutation.
Shape class_last_order(int64_t ndim) {
  Shape order = {0};
  for (int64_t d = 2; d < ndim; ++d) order.push_back(d);
  order.push_back(1);
  return order;
}

// Logits as contiguous rows (M, C), one per target in the target's row-major order.
Tensor logits_as_rows(const Tensor& logits, int64_t rows) {
  Tensor x = logits.detach();
  if (x.dim() > 2) x = x.permute(class_last_order(x.dim()));
  return x.contiguous().view({rows, class_count(logits)});
}

// Inverse of logits_as_rows for the gradient: (M, C) back to the logits' layout.
Tensor rows_as_logits(const Tensor& rows, const Shape& logits_shape) {
  const int64_t ndim = static_cast<int64_t>(logits_shape.size());
  if (ndim <= 2) return rows.view(logits_shape);
  Shape class_last, inverse(ndim);
  const Shape order = class_last_order(ndim);
  for (int64_t d = 0; d < ndim; ++d) {
    class_last.push_back(logits_shape[order[d]]);
    inverse[order[d]] = d;
  }
  return rows.view(class_last).permute(inverse);
}

// "[i, j, ...]": the position of the flat (row-major) element `flat` in `shape`.
std::string position_str(const Shape& shape, int64_t flat) {
  Shape index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

// Calls f.template operator()<T, Index>() for the logits' floating type T and the
// targets' index type Index.
template <class F>
void dispatch_logits_and_target(const Tensor& logits, const Tensor& target, const F& f) {
  dispatch_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    dispatch_index(target.dtype(), "cross_entropy",
                   [&]<class Index>() { f.template operator()<T, Index>(); });
  });
}

// How many targets (M) count towards the mean; throws on a target that is neither a
// class of [0, C) nor ignore_index. The shapes are the caller's logits and target, for the
// message.
int64_t count_targets(const Tensor& t, int64_t classes, const CrossEntropyOptions& options,
                      const Shape& logits_shape, const Shape& target_shape) {
  return dispatch_index(t.dtype(), "cross_entropy", [&]<class Index>() {
    const Index* index = t.data<Index>();
    const cpu::TargetScan scan = cpu::scan_targets(index, t.numel(), classes, options.ignore_index);
    TORUS_CHECK(scan.first_invalid < 0,
                "cross_entropy: target{} = {} is not a class in [0, {}) nor ignore_index {} "
                "(logits {}, target {})",
                position_str(target_shape, scan.first_invalid), index[scan.first_invalid],
                classes, options.ignore_index, shape_str(logits_shape), shape_str(target_shape));
    return scan.counted;
  });
}

// The mean loss over the `counted` targets of rows x (M, C) and targets t (M); fills lse
// (M) with each row's log-sum-exp for the backward.
Tensor mean_row_loss(const Tensor& x, const Tensor& t, const Tensor& lse, int64_t counted,
                     const CrossEntropyOptions& options) {
  const int64_t rows = x.size(0), classes = x.size(1);
  Tensor row_loss = Tensor::empty({rows}, x.dtype());
  double total = 0;
  dispatch_logits_and_target(x, t, [&]<class T, class Index>() {
    cpu::cross_entropy_forward(x.data<T>(), t.data<Index>(), lse.data<T>(), row_loss.data<T>(),
                               rows, classes, options.ignore_index,
                               static_cast<T>(options.label_smoothing));
    T sum = 0;
    cpu::sum_middle(row_loss.data<T>(), &sum, 1, rows, 1);
    total = static_cast<double>(sum);
  });
  // With every target ignored the mean is 0/0: NaN, as PyTorch.
  return Tensor::scalar(counted > 0 ? total / static_cast<double>(counted)
                                    : std::numeric_limits<double>::quiet_NaN(),
                        x.dtype());
}

// Gradient of the summed row losses times `scale`, for rows x (M, C) and targets t (M),
// from the forward's log-sum-exp per row (M).
Tensor cross_entropy_grad(const Tensor& x, const Tensor& t, const Tensor& lse, double scale,
                          const CrossEntropyOptions& options) {
  Tensor grad = Tensor::empty(x.shape(), x.dtype());
  dispatch_logits_and_target(x, t, [&]<class T, class Index>() {
    cpu::cross_entropy_backward(x.data<T>(), t.data<Index>(), lse.data<T>(), grad.data<T>(),
                                x.size(0), x.size(1), options.ignore_index,
                                static_cast<T>(options.label_smoothing), static_cast<T>(scale));
  });
  return grad;
}

// The forward on the device: the kernel scans the targets; an invalid one throws the
// cpu's error, from the targets copied back (the error path only), now or with the run's
// other device checks (device_checks.h).
cuda_nn_kernels::CrossEntropyForward cross_entropy_cuda(const Tensor& x, const Tensor& t, int64_t classes,
                                                        const CrossEntropyOptions& options,
                                                        const Tensor& logits, const Tensor& target) {
  cuda_nn_kernels::CrossEntropyForward f =
      cuda_nn_kernels::cross_entropy_forward(x, t, options.ignore_index, options.label_smoothing);
  check_device_status(f.status, [t, classes, options, logits_shape = logits.shape(),
                                 target_shape = target.shape()](const std::vector<int64_t>& status) {
    if (status[1] < 0) return;
    count_targets(t.to(Device::cpu()), classes, options, logits_shape, target_shape);
    // The kernel saw a bad target the host copy no longer holds: never pass it silently.
    throw ValueError(fmt::format("cross_entropy: the device found an invalid target in row {} (a class in [0, {}) or "
                                 "ignore_index {}), which the targets no longer hold (changed in place before the "
                                 "check?)",
                                 status[1], classes, options.ignore_index));
  });
  return f;
}

// The forward on the cpu; status stays undefined (the count is kept on the host).
cuda_nn_kernels::CrossEntropyForward cross_entropy_cpu(const Tensor& x, const Tensor& t, int64_t classes,
                                                       const CrossEntropyOptions& options,
                                                       const Tensor& logits, const Tensor& target) {
  cuda_nn_kernels::CrossEntropyForward f;
  f.counted = count_targets(t, classes, options, logits.shape(), target.shape());
  f.lse = Tensor::empty({x.size(0)}, logits.dtype());
  f.loss = mean_row_loss(x, t, f.lse, f.counted, options);
  return f;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  TORUS_PROFILE_OP("cross_entropy");
  check_cross_entropy_args(logits, target, options);
  const int64_t rows = target.numel(), classes = class_count(logits);
  const Tensor x = logits_as_rows(logits, rows);  // (M, C)
  const Tensor t = target.contiguous();           // (M) in row-major order
  const cuda_nn_kernels::CrossEntropyForward f =
      cuda_kernels::on_cuda(logits) ? cross_entropy_cuda(x, t, classes, options, logits, target)
                                    : cross_entropy_cpu(x, t, classes, options, logits, target);
  // Per row, with p = softmax(x): d(-log p_t)/dx_c = p_c - [c = t] and
  // d(mean_k -log p_k)/dx_c = p_c - 1/C, so the smoothed row loss has gradient
  // p - (1 - eps) onehot(t) - eps/C; the mean scales it by 1/count, ignored rows get 0.
  // On a device the kernel reads the scale g / count from the device.
  return record("cross_entropy", f.loss, {logits},
                [x, t, lse = f.lse, status = f.status, counted = f.counted, options,
                 shape = logits.shape()](const Tensor& g) {
                  if (cuda_kernels::on_cuda(x))
                    return Grads{rows_as_logits(
                        cuda_nn_kernels::cross_entropy_backward(x, t, lse, status, g, options.ignore_index,
                                                                options.label_smoothing),
                        shape)};
                  const double scale = counted > 0 ? g.item() / static_cast<double>(counted) : 0;
                  return Grads{rows_as_logits(cross_entropy_grad(x, t, lse, scale, options), shape)};
                });
}

Tensor mse_loss(const Tensor& input, const Tensor& target) {
  TORUS_PROFILE_OP("mse_loss");
  check_same_device(input, target, "mse_loss");  // the arithmetic below runs on their device
  check_same_dtype(input, target, "mse_loss");
  TORUS_CHECK(input.shape() == target.shape(),
              "mse_loss: input of shape {} and target of shape {} differ (no broadcasting)",
              input.shape_str(), target.shape_str());
  const double n = static_cast<double>(input.numel());
  Tensor diff, out;
  {
    NoGradGuard no_grad;
    diff = sub(input, target);
    out = mean(square(diff));
  }
  // d/d input mean((input - target)^2) = 2 (input - target) / n; target gets the negative.
  return record("mse_loss", out, {input, target},
                [diff, n, input_grad = input.requires_grad(),
                 target_grad = target.requires_grad()](const Tensor& g) {
                  Tensor grad_input = mul(diff, g * (2.0 / n));
                  return Grads{input_grad ? grad_input : Tensor(),
                               target_grad ? neg(grad_input) : Tensor()};
                });
}

namespace {

// A copy of `target` (i64) with the elements at flat `positions` set to `value`: how
// samples make ignore_index hits. with_targets_set_torch is the same in PyTorch.
Tensor with_targets_set(const Tensor& target, const std::vector<int64_t>& positions,
                        int64_t value) {
  // Set on the host, then back to the target's device (the samples also run on cuda).
  Tensor t = target.to(Device::cpu()).clone();
  for (int64_t p : positions) t.data<int64_t>()[p] = value;
  return t.to(target.device());
}

std::string with_targets_set_torch(const std::vector<int64_t>& positions, int64_t value) {
  return fmt::format("b.flatten().index_fill(0, torch.tensor([{}]), {}).view(b.shape)",
                     fmt::join(positions, ", "), value);
}

}  // namespace

void register_loss_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  using O = CrossEntropyOptions;
  const double r = 1e-4;  // sums over classes and rows
  s.push_back({"cross_entropy/basic", {I::real({4, 5}), I::index({4}, 5)}, [](const V& x) { return cross_entropy(x[0], x[1]); }, "F.cross_entropy(a, b)", r});
  s.push_back({"cross_entropy/strided_logits", {I::strided({6, 4}), I::index({6}, 4)}, [](const V& x) { return cross_entropy(x[0], x[1]); }, "F.cross_entropy(a, b)", r});
  s.push_back({"cross_entropy/ignore_index", {I::real({6, 5}), I::index({6}, 5)}, [](const V& x) { return cross_entropy(x[0], with_targets_set(x[1], {1, 4}, -100)); }, "F.cross_entropy(a, " + with_targets_set_torch({1, 4}, -100) + ")", r});
  s.push_back({"cross_entropy/custom_ignore_index", {I::real({6, 3}), I::index({6}, 3)}, [](const V& x) { return cross_entropy(x[0], with_targets_set(x[1], {2}, 0), O{.ignore_index = 0}); }, "F.cross_entropy(a, " + with_targets_set_torch({2}, 0) + ", ignore_index=0)", r});
  s.push_back({"cross_entropy/label_smoothing", {I::real({5, 4}), I::index({5}, 4)}, [](const V& x) { return cross_entropy(x[0], x[1], O{.label_smoothing = 0.1}); }, "F.cross_entropy(a, b, label_smoothing=0.1)", r});
  s.push_back({"cross_entropy/smoothing_and_ignore", {I::real({5, 6}), I::index({5}, 6)}, [](const V& x) { return cross_entropy(x[0], with_targets_set(x[1], {0, 3}, -100), O{.label_smoothing = 0.25}); }, "F.cross_entropy(a, " + with_targets_set_torch({0, 3}, -100) + ", label_smoothing=0.25)", r});
  s.push_back({"cross_entropy/i32_target", {I::real({4, 6}), I::index({4}, 6)}, [](const V& x) { return cross_entropy(x[0], x[1].to(DType::i32)); }, "F.cross_entropy(a, b)", r});
  s.push_back({"cross_entropy/unbatched", {I::real({5}), I::index({}, 5)}, [](const V& x) { return cross_entropy(x[0], x[1]); }, "F.cross_entropy(a, b)", r});
  s.push_back({"cross_entropy/spatial", {I::real({2, 3, 4}), I::index({2, 4}, 3)}, [](const V& x) { return cross_entropy(x[0], x[1]); }, "F.cross_entropy(a, b)", r});
  s.push_back({"cross_entropy/spatial_2d_smoothing_ignore", {I::real({2, 4, 3, 2}), I::index({2, 3, 2}, 4)}, [](const V& x) { return cross_entropy(x[0], with_targets_set(x[1], {1, 7}, -100), O{.label_smoothing = 0.1}); }, "F.cross_entropy(a, " + with_targets_set_torch({1, 7}, -100) + ", label_smoothing=0.1)", r});
  s.push_back({"mse_loss/basic", {I::real({3, 4}), I::real({3, 4})}, [](const V& x) { return mse_loss(x[0], x[1]); }, "F.mse_loss(a, b)", r});
  s.push_back({"mse_loss/strided", {I::strided({4, 5}), I::real({4, 5})}, [](const V& x) { return mse_loss(x[0], x[1]); }, "F.mse_loss(a, b)", r});
  s.push_back({"mse_loss/constant_target", {I::real({2, 3, 4}), I::constant({2, 3, 4})}, [](const V& x) { return mse_loss(x[0], x[1]); }, "F.mse_loss(a, b)", r});
}

}  // namespace torus
