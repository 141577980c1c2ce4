// Reductions: sum, mean, max/argmax, var, and sum_to (the backward of broadcasting).
#include <algorithm>
#include <set>

#include "framework/profile/profiler.h"
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/reduce.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// Sorted, wrapped, de-duplicated dims; empty means all.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim,
                                    std::string_view op) {
  std::set<int64_t> unique;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) unique.insert(d);
  }
  for (int64_t d : dims) {
    TORUS_CHECK(unique.insert(wrap_dim(d, ndim, op)).second, "{}: dim {} repeated", op, d);
  }
  return {unique.begin(), unique.end()};
}

Shape kept_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims) out[d] = 1;
  return out;
}

Shape dropped_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(shape[d]);
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= shape[d];
  return n;
}

// Sums x over `dims` (sorted), keeping them as size 1. One pass per run of adjacent dims.
Tensor sum_kernel(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor current = x.contiguous();
  size_t i = dims.size();
  while (i > 0) {
    // The run of adjacent dims ending at dims[i-1].
    size_t first = i - 1;
    while (first > 0 && dims[first - 1] == dims[first] - 1) --first;
    const int64_t d0 = dims[first], d1 = dims[i - 1];
    const Shape& shape = current.shape();
    int64_t outer = 1, reduce = 1, inner = 1;
    for (int64_t d = 0; d < d0; ++d) outer *= shape[d];
    for (int64_t d = d0; d <= d1; ++d) reduce *= shape[d];
    for (int64_t d = d1 + 1; d < static_cast<int64_t>(shape.size()); ++d) inner *= shape[d];
    Shape out_shape = shape;
    for (int64_t d = d0; d <= d1; ++d) out_shape[d] = 1;
    Tensor out = Tensor::empty(out_shape, current.dtype(), current.device());
    if (cuda_kernels::on_cuda(current)) {
      cuda_kernels::sum_middle(current, out, outer, reduce, inner);
    } else {
      dispatch_floating(current.dtype(), "sum", [&]<class T>() {
        if (reduce == 0) {
          out.fill_(0.0);
        } else {
          cpu::sum_middle(current.data<T>(), out.data<T>(), outer, reduce, inner);
        }
      });
    }
    current = out;
    i = first;
  }
  return current;
}

// The gradient of a reduction, broadcast back over the reduced dims of `shape`.
Tensor expand_reduced(const Tensor& g, const Shape& shape, const std::vector<int64_t>& dims) {
  return g.reshape(kept_shape(shape, dims)).expand(shape);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  TORUS_PROFILE_OP("sum");
  const auto dims = normalize_dims(dims_in, x.dim(), "sum");
  Tensor out = sum_kernel(x, dims);
  if (!keepdim) out = out.detach().view(dropped_shape(x.shape(), dims));
  // d sum / dx = 1 for every reduced element
  return record("sum", out, {x}, [shape = x.shape(), dims](const Tensor& g) {
    return Grads{expand_reduced(g, shape, dims)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  TORUS_PROFILE_OP("mean");
  const auto dims = normalize_dims(dims_in, x.dim(), "mean");
  const int64_t n = reduced_count(x.shape(), dims);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = sum(x, dims, keepdim);
    mul_(out, 1.0 / static_cast<double>(n));
  }
  // d mean / dx = 1/n
  return record("mean", out, {x}, [shape = x.shape(), dims, n](const Tensor& g) {
    return Grads{expand_reduced(g * (1.0 / static_cast<double>(n)), shape, dims)};
  });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  TORUS_PROFILE_OP("sum_to");
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  TORUS_CHECK(lead >= 0, "sum_to: cannot reduce shape {} to {}", x.shape_str(), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && x.shape()[d] != 1) {
      dims.push_back(d);
    } else {
      TORUS_CHECK(shape[d - lead] == x.shape()[d], "sum_to: cannot reduce shape {} to {}",
                  x.shape_str(), shape_str(shape));
    }
  }
  return sum(x, dims, true).reshape(shape);
}

namespace {
// values and indices of the max over one dim, keepdim layout.
std::pair<Tensor, Tensor> max_kernel(const Tensor& x, int64_t dim) {
  if (!cuda_kernels::on_cuda(x)) check_cpu(x, "max");
  TORUS_CHECK(x.dim() == 0 || x.size(dim) > 0, "max: reduction over an empty dim {} of shape {}",
              dim, x.shape_str());
  Tensor c = x.contiguous();
  const AxisLayout axis = axis_layout(x.shape(), dim);
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[dim] = 1;
  Tensor values = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(out_shape, DType::i64, x.device());
  if (cuda_kernels::on_cuda(x)) {
    cuda_kernels::max_middle(c, values, indices, axis.outer, axis.size, axis.inner);
    return {values, indices};
  }
  dispatch_floating(x.dtype(), "max", [&]<class T>() {
    cpu::max_middle(c.data<T>(), values.data<T>(), indices.data<int64_t>(), axis.outer, axis.size,
                    axis.inner);
  });
  return {values, indices};
}
}  // namespace

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  TORUS_PROFILE_OP("max");
  dim = wrap_dim(dim, x.dim(), "max");
  auto [values, indices] = max_kernel(x, dim);
  Shape shape = x.shape();
  if (!keepdim && x.dim() > 0) values = values.squeeze(dim);
  // The gradient flows to the position of the maximum only.
  return record("max", values, {x}, [shape, indices = indices, dim, dtype = x.dtype()](const Tensor& g) {
    Tensor grad = Tensor::empty(shape, dtype, g.device());
    Tensor g_kept = g.reshape(indices.shape()).contiguous();
    const AxisLayout axis = axis_layout(shape, dim);
    if (cuda_kernels::on_cuda(g_kept)) {
      cuda_kernels::max_middle_backward(g_kept, indices, grad, axis.outer, axis.size, axis.inner);
      return Grads{grad};
    }
    grad.fill_(0.0);
    dispatch_floating(dtype, "max backward", [&]<class T>() {
      T* dst = grad.data<T>();
      const T* src = g_kept.data<T>();
      const int64_t* idx = indices.data<int64_t>();
      for (int64_t k = 0; k < axis.outer * axis.inner; ++k) {
        const int64_t o = k / axis.inner, i = k % axis.inner;
        dst[(o * axis.size + idx[k]) * axis.inner + i] = src[k];
      }
    });
    return Grads{grad};
  });
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  TORUS_PROFILE_OP("argmax");
  dim = wrap_dim(dim, x.dim(), "argmax");
  Tensor indices = max_kernel(x, dim).second;
  return keepdim || x.dim() == 0 ? indices : indices.squeeze(dim);
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, int64_t correction, bool keepdim) {
  TORUS_PROFILE_OP("var");
  const auto dims = normalize_dims(dims_in, x.dim(), "var");
  const int64_t n = reduced_count(x.shape(), dims);
  const double denominator = static_cast<double>(std::max<int64_t>(n - correction, 0));
  Tensor centered, out;
  {
    NoGradGuard no_grad;
    centered = sub(x, mean(x, dims, true));
    out = sum(square(centered), dims, keepdim);
    mul_(out, 1.0 / denominator);
  }
  // d var / dx_i = 2 (x_i - mean) / (n - correction); the mean's own dependence on x_i
  // cancels because the centered values sum to zero.
  return record("var", out, {x}, [shape = x.shape(), dims, centered, denominator](const Tensor& g) {
    return Grads{mul(expand_reduced(g, shape, dims), centered * (2.0 / denominator))};
  });
}

void register_reduce_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  const double r = 1e-4;  // accumulation order differs from PyTorch's
  s.push_back({"sum/all", {I::real({3, 4})}, [](const V& x) { return sum(x[0]); }, "a.sum()", r});
  s.push_back({"sum/dim0", {I::real({5, 3})}, [](const V& x) { return sum(x[0], {0}); }, "a.sum(0)", r});
  s.push_back({"sum/last_keepdim", {I::strided({3, 4})}, [](const V& x) { return sum(x[0], {-1}, true); }, "a.sum(-1, keepdim=True)", r});
  s.push_back({"sum/two_dims", {I::real({2, 3, 4})}, [](const V& x) { return sum(x[0], {0, 2}); }, "a.sum((0, 2))", r});
  s.push_back({"mean/middle", {I::real({2, 3, 4})}, [](const V& x) { return mean(x[0], {1}); }, "a.mean(1)", r});
  s.push_back({"mean/all_strided", {I::strided({4, 5})}, [](const V& x) { return mean(x[0]); }, "a.mean()", r});
  s.push_back({"max/dim1", {I::real({3, 5})}, [](const V& x) { return max(x[0], 1); }, "a.max(1).values"});
  s.push_back({"max/dim0_keepdim", {I::strided({4, 3})}, [](const V& x) { return max(x[0], 0, true); }, "a.max(0, keepdim=True).values"});
  s.push_back({"argmax/dim1", {I::constant({3, 5})}, [](const V& x) { return argmax(x[0], 1); }, "a.argmax(1)"});
  s.push_back({"var/dim1", {I::real({3, 6})}, [](const V& x) { return var(x[0], {1}); }, "a.var(1)", r});
  s.push_back({"var/all_biased", {I::real({4, 5})}, [](const V& x) { return var(x[0], {}, 0); }, "a.var(unbiased=False)", r});
  s.push_back({"var/two_dims_keepdim", {I::real({2, 3, 4})}, [](const V& x) { return var(x[0], {0, 2}, 1, true); }, "a.var((0, 2), keepdim=True)", r});
  s.push_back({"sum_to/broadcast", {I::real({2, 3, 4})}, [](const V& x) { return sum_to(x[0], {3, 1}); }, "a.sum(0).sum(-1, keepdim=True)", r});
}

}  // namespace torus
