// Softmax and log-softmax over one dim. Both save only their output: each gradient is
// cheapest written in it.
#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/softmax.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// The CUDA kernels run over the last dim only: another dim is swapped with the last one
// before (and after, a copy each way), so every dim still has a device path.
Tensor dim_to_last(const Tensor& t, int64_t dim) {
  const Tensor d = t.detach();
  return dim == d.dim() - 1 || d.dim() == 0 ? d : d.transpose(dim, d.dim() - 1);
}
Tensor last_to_dim(const Tensor& t, int64_t dim) { return dim_to_last(t, dim).contiguous(); }

// x of any shape, `dim` already wrapped; the result is contiguous.
Tensor softmax_forward(const Tensor& x, int64_t dim, bool log, std::string_view op) {
  if (cuda_kernels::on_cuda(x))
    return last_to_dim(cuda_nn_kernels::softmax_last(dim_to_last(x, dim), log, op), dim);
  check_cpu(x, op);
  const Tensor input = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const AxisLayout axis = axis_layout(x.shape(), dim);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    cpu::softmax_forward(input.data<T>(), y.data<T>(), axis.outer, axis.size, axis.inner, log);
  });
  return y;
}

// The input gradient from the saved output y and the upstream gradient g.
Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim, bool log,
                        std::string_view op) {
  if (cuda_kernels::on_cuda(y))
    return last_to_dim(
        cuda_nn_kernels::softmax_last_backward(dim_to_last(y, dim), dim_to_last(g, dim), log, op), dim);
  const Tensor upstream = g.contiguous();
  Tensor gx = Tensor::empty(y.shape(), y.dtype());
  const AxisLayout axis = axis_layout(y.shape(), dim);
  dispatch_floating(y.dtype(), op, [&]<class T>() {
    cpu::softmax_backward(y.data<T>(), upstream.data<T>(), gx.data<T>(), axis.outer, axis.size,
                          axis.inner, log);
  });
  return gx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  TORUS_PROFILE_OP("softmax");
  dim = wrap_dim(dim, x.dim(), "softmax");
  Tensor y = softmax_forward(x, dim, /*log=*/false, "softmax");
  // y_i = e^{x_i} / Σ_k e^{x_k} has dy_i/dx_j = y_i (δ_ij - y_j), so
  // dx_j = Σ_i g_i y_i (δ_ij - y_j) = y_j (g_j - Σ_i g_i y_i).
  return record("softmax", y, {x}, [y = y.detach(), dim](const Tensor& g) {
    return Grads{softmax_backward(y, g, dim, /*log=*/false, "softmax backward")};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  TORUS_PROFILE_OP("log_softmax");
  dim = wrap_dim(dim, x.dim(), "log_softmax");
  Tensor y = softmax_forward(x, dim, /*log=*/true, "log_softmax");
  // y_i = x_i - log Σ_k e^{x_k} has dy_i/dx_j = δ_ij - softmax_j = δ_ij - e^{y_j}, so
  // dx_j = g_j - e^{y_j} Σ_i g_i.
  return record("log_softmax", y, {x}, [y = y.detach(), dim](const Tensor& g) {
    return Grads{softmax_backward(y, g, dim, /*log=*/true, "log_softmax backward")};
  });
}

void register_softmax_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  const double r = 1e-4;  // sums over the softmax dim
  s.push_back({"softmax/last", {I::real({3, 5})}, [](const V& x) { return softmax(x[0], -1); }, "torch.softmax(a, -1)", r});
  s.push_back({"softmax/first", {I::real({4, 3})}, [](const V& x) { return softmax(x[0], 0); }, "torch.softmax(a, 0)", r});
  s.push_back({"softmax/middle", {I::real({2, 3, 4})}, [](const V& x) { return softmax(x[0], 1); }, "torch.softmax(a, 1)", r});
  s.push_back({"softmax/strided_last", {I::strided({4, 5})}, [](const V& x) { return softmax(x[0], 1); }, "torch.softmax(a, 1)", r});
  s.push_back({"softmax/strided_first", {I::strided({3, 2, 4})}, [](const V& x) { return softmax(x[0], -3); }, "torch.softmax(a, -3)", r});
  s.push_back({"softmax/vector", {I::real({7})}, [](const V& x) { return softmax(x[0], 0); }, "torch.softmax(a, 0)", r});
  s.push_back({"softmax/large_values", {I::real({3, 4})}, [](const V& x) { return softmax(x[0] * 100.0, -1); }, "torch.softmax(a * 100, -1)", r});
  s.push_back({"log_softmax/last", {I::real({3, 5})}, [](const V& x) { return log_softmax(x[0], -1); }, "torch.log_softmax(a, -1)", r});
  s.push_back({"log_softmax/first", {I::real({4, 3})}, [](const V& x) { return log_softmax(x[0], 0); }, "torch.log_softmax(a, 0)", r});
  s.push_back({"log_softmax/middle", {I::real({2, 3, 4})}, [](const V& x) { return log_softmax(x[0], -2); }, "torch.log_softmax(a, -2)", r});
  s.push_back({"log_softmax/strided", {I::strided({5, 4})}, [](const V& x) { return log_softmax(x[0], -1); }, "torch.log_softmax(a, -1)", r});
  s.push_back({"log_softmax/large_values", {I::real({2, 3})}, [](const V& x) { return log_softmax(x[0] * 100.0, 0); }, "torch.log_softmax(a * 100, 0)", r});
}

}  // namespace torus
