// 2-D convolution (im2col + one GEMM per image and group) and max/average pooling over
// NCHW images, forward and backward. Letters: N images, C input channels, O output
// channels, G groups (Cg = C/G, Og = O/G), (H, W) input and (OH, OW) output planes,
// K = Cg*kh*kw the rows of an image's column matrix.
#include <optional>

#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_conv_kernels.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/pool.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// Positions of a window of `kernel` taps `dilation` apart sliding by `stride` over
// `size` + 2 `pad`: floor((size + 2 pad - dilation (kernel - 1) - 1) / stride) + 1.
int64_t sliding_outputs(int64_t size, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// ---- Convolution ----

// A validated convolution.
struct ConvPlan {
  int64_t batch = 0, groups = 1, out_channels = 0;
  cpu::Conv2dGeometry geometry;  // of one image and one group: channels = Cg

  int64_t group_out() const { return out_channels / groups; }
  int64_t in_channels() const { return geometry.channels * groups; }
  // A 1x1 kernel with stride 1 and no padding: an image's column matrix is the image itself.
  bool pointwise() const {
    const cpu::Conv2dGeometry& g = geometry;
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
           g.pad_h == 0 && g.pad_w == 0;
  }
};

void check_conv2d_args(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Conv2dOptions& o) {
  // On a device every operand is there (cuda_conv_kernels.h); else all on the cpu.
  if (!cuda_kernels::on_cuda(x)) check_cpu(x, "conv2d");
  check_same_device(x, weight, "conv2d");
  check_same_dtype(x, weight, "conv2d");
  TORUS_CHECK(x.dim() == 4, "conv2d: input must be 4-D (N, C, H, W), got {}", x.shape_str());
  TORUS_CHECK(weight.dim() == 4, "conv2d: weight must be 4-D (out_channels, in_channels / groups, kh, kw), got {}",
              weight.shape_str());
  TORUS_CHECK(weight.numel() > 0, "conv2d: weight {} is empty", weight.shape_str());
  TORUS_CHECK(o.stride[0] >= 1 && o.stride[1] >= 1, "conv2d: stride must be positive, got ({}, {})",
              o.stride[0], o.stride[1]);
  TORUS_CHECK(o.dilation[0] >= 1 && o.dilation[1] >= 1, "conv2d: dilation must be positive, got ({}, {})",
              o.dilation[0], o.dilation[1]);
  TORUS_CHECK(o.padding[0] >= 0 && o.padding[1] >= 0, "conv2d: padding must be non-negative, got ({}, {})",
              o.padding[0], o.padding[1]);
  TORUS_CHECK(o.groups >= 1, "conv2d: groups must be positive, got {}", o.groups);
  const int64_t channels = x.size(1), out_channels = weight.size(0);
  TORUS_CHECK(channels % o.groups == 0, "conv2d: input channels {} (input {}) are not divisible by groups {}",
              channels, x.shape_str(), o.groups);
  TORUS_CHECK(out_channels % o.groups == 0,
              "conv2d: output channels {} (weight {}) are not divisible by groups {}", out_channels,
              weight.shape_str(), o.groups);
  TORUS_CHECK(weight.size(1) * o.groups == channels,
              "conv2d: weight {} in {} groups expects {} input channels, but input {} has {}",
              weight.shape_str(), o.groups, weight.size(1) * o.groups, x.shape_str(), channels);
  const int64_t span_h = o.dilation[0] * (weight.size(2) - 1) + 1;
  const int64_t span_w = o.dilation[1] * (weight.size(3) - 1) + 1;
  TORUS_CHECK(span_h <= x.size(2) + 2 * o.padding[0] && span_w <= x.size(3) + 2 * o.padding[1],
              "conv2d: kernel {}x{} (dilation ({}, {})) spans {}x{}, larger than the padded input {}x{} "
              "(input {}, padding ({}, {}))",
              weight.size(2), weight.size(3), o.dilation[0], o.dilation[1], span_h, span_w,
              x.size(2) + 2 * o.padding[0], x.size(3) + 2 * o.padding[1], x.shape_str(), o.padding[0],
              o.padding[1]);
  if (!bias.defined()) return;
  check_same_device(x, bias, "conv2d");
  check_same_dtype(x, bias, "conv2d");
  TORUS_CHECK(bias.dim() == 1 && bias.size(0) == out_channels,
              "conv2d: bias must have shape ({}) to match weight {}, got {}", out_channels,
              weight.shape_str(), bias.shape_str());
}

ConvPlan plan_conv2d(const Tensor& x, const Tensor& weight, const Conv2dOptions& o) {
  ConvPlan p;
  p.batch = x.size(0);
  p.groups = o.groups;
  p.out_channels = weight.size(0);
  cpu::Conv2dGeometry& g = p.geometry;
  g.channels = x.size(1) / o.groups;
  g.height = x.size(2);
  g.width = x.size(3);
  g.kernel_h = weight.size(2);
  g.kernel_w = weight.size(3);
  g.stride_h = o.stride[0];
  g.stride_w = o.stride[1];
  g.pad_h = o.padding[0];
  g.pad_w = o.padding[1];
  g.dilation_h = o.dilation[0];
  g.dilation_w = o.dilation[1];
  g.out_h = sliding_outputs(g.height, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h);
  g.out_w = sliding_outputs(g.width, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w);
  return p;
}

// A column matrix (K, OH*OW) as GEMM reads it: row-major, rows `ld` apart.
template <class T>
struct Columns {
  const T* data;
  int64_t ld;
};

// The column matrices of x (N, C, H, W), one per image and group. A pointwise convolution
// over dense planes reads them straight from x; otherwise each is unfolded into one of
// `chunks` buffers (one per parallel chunk of images), allocated once and reused.
class ColumnSource {
 public:
  ColumnSource(const Tensor& x, const ConvPlan& plan, int chunks) : x_(x), plan_(plan) {
    const cpu::Conv2dGeometry& g = plan.geometry;
    const Shape& s = x.strides();
    const int64_t plane = g.height * g.width;
    if (plan.pointwise() && s[3] == 1 && s[2] == g.width && (g.channels == 1 || s[1] >= plane)) {
      direct_ld_ = g.channels == 1 ? plane : s[1];
    } else {
      buffer_ = Tensor::empty({chunks, g.col_rows(), g.col_cols()}, x.dtype());
    }
  }

  // Unfolds into chunk `chunk`'s buffer: a result is valid until that chunk's next call.
  template <class T>
  Columns<T> get(int64_t n, int64_t group, int chunk) {
    const Shape& s = x_.strides();
    const T* image = x_.data<T>() + n * s[0] + group * plan_.geometry.channels * s[1];
    if (direct_ld_) return {image, *direct_ld_};
    T* buffer = buffer_.data<T>() + chunk * plan_.geometry.col_rows() * plan_.geometry.col_cols();
    cpu::im2col(image, cpu::ImageStrides{s[1], s[2], s[3]}, plan_.geometry, buffer);
    return {buffer, plan_.geometry.col_cols()};
  }

 private:
  Tensor x_;
  const ConvPlan& plan_;
  std::optional<int64_t> direct_ld_;
  Tensor buffer_;
};

// Images are spread over the threads (cpu::parallel_chunks), each unfolding its own images
// into its own buffer and running their GEMMs on one thread: a batch of small per-image
// products (conv 32->64 3x3 on 13x13 planes is 64x121x288) keeps both cores busy, where one
// multi-threaded GEMM per image spends most of its time waking the pool.

// out (N, O, OH, OW) = bias + W_g (Og, K) · columns (K, OH*OW) per image and group.
// x any strides, w (O, Cg, kh, kw) contiguous, bias (O) or undefined.
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvPlan& p) {
  const cpu::Conv2dGeometry& g = p.geometry;
  Tensor out = Tensor::empty({p.batch, p.out_channels, g.out_h, g.out_w}, x.dtype());
  // The bias, broadcast over each plane, is GEMM's C input (beta = 1): added in the same pass.
  if (bias.defined()) out.copy_(bias.view({p.out_channels, 1, 1}));
  const int64_t og = p.group_out(), k = g.col_rows(), plane = g.col_cols();
  ColumnSource columns(x, p, cpu::task_chunks(p.batch));
  dispatch_floating(x.dtype(), "conv2d", [&]<class T>() {
    const T beta = bias.defined() ? T(1) : T(0);
    const T* weights = w.data<T>();
    T* result = out.data<T>();
    cpu::parallel_chunks(p.batch, [&](int chunk, int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t group = 0; group < p.groups; ++group) {
          const Columns<T> cols = columns.get<T>(n, group, chunk);
          cpu::gemm({false, false, og, plane, k, k, cols.ld, plane}, T(1), weights + group * og * k, cols.data,
                    beta, result + (n * p.out_channels + group * og) * plane);
        }
      }
    });
  });
  return out;
}

// dx (N, C, H, W) = col2im(W_gᵀ · g_ng) per image and group: each column entry's gradient
// returns to the pixel it was read from. g (N, O, OH, OW) contiguous, w contiguous.
Tensor conv2d_input_grad(const Tensor& g, const Tensor& w, const ConvPlan& p) {
  const cpu::Conv2dGeometry& geo = p.geometry;
  const int64_t og = p.group_out(), k = geo.col_rows(), plane = geo.col_cols();
  const int64_t image_plane = geo.height * geo.width;
  const Shape shape{p.batch, p.in_channels(), geo.height, geo.width};
  // Pointwise: the GEMM writes the gradient planes directly, no folding needed.
  const bool direct = p.pointwise();
  const int chunks = cpu::task_chunks(p.batch);
  Tensor dx = direct ? Tensor::empty(shape, g.dtype()) : Tensor::zeros(shape, g.dtype());
  Tensor col_grad = direct ? Tensor() : Tensor::empty({chunks, k, plane}, g.dtype());
  dispatch_floating(g.dtype(), "conv2d backward", [&]<class T>() {
    const T* weights = w.data<T>();
    const T* grad = g.data<T>();
    T* dx_data = dx.data<T>();
    cpu::parallel_chunks(p.batch, [&](int chunk, int64_t n0, int64_t n1) {
      T* buffer = direct ? nullptr : col_grad.data<T>() + chunk * k * plane;
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t group = 0; group < p.groups; ++group) {
          T* image = dx_data + (n * p.in_channels() + group * geo.channels) * image_plane;
          T* dst = direct ? image : buffer;
          cpu::gemm({true, false, k, plane, og, k, plane, plane}, T(1), weights + group * og * k,
                    grad + (n * p.out_channels + group * og) * plane, T(0), dst);
          if (!direct) cpu::col2im(buffer, geo, image);
        }
      }
    });
  });
  return dx;
}

// dW_g (Og, K) = Σ_n g_ng (Og, OH*OW) · columns_ngᵀ: one GEMM per image and group,
// accumulated (beta = 1) into a partial dW per chunk of images, the partials then added in
// chunk order. g contiguous.
Tensor conv2d_weight_grad(const Tensor& g, const Tensor& x, const Shape& weight_shape, const ConvPlan& p) {
  const int64_t og = p.group_out(), k = p.geometry.col_rows(), plane = p.geometry.col_cols();
  const int chunks = cpu::task_chunks(p.batch);
  Tensor dw = Tensor::zeros(weight_shape, g.dtype());
  const int64_t size = dw.numel();
  Tensor partials = chunks > 1 ? Tensor::zeros({chunks - 1, size}, g.dtype()) : Tensor();
  ColumnSource columns(x, p, chunks);
  dispatch_floating(g.dtype(), "conv2d backward", [&]<class T>() {
    const T* grad = g.data<T>();
    cpu::parallel_chunks(p.batch, [&](int chunk, int64_t n0, int64_t n1) {
      T* acc = chunk == 0 ? dw.data<T>() : partials.data<T>() + (chunk - 1) * size;
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t group = 0; group < p.groups; ++group) {
          const Columns<T> cols = columns.get<T>(n, group, chunk);
          cpu::gemm({false, true, og, k, plane, plane, cols.ld, k}, T(1),
                    grad + (n * p.out_channels + group * og) * plane, cols.data, T(1), acc + group * og * k);
        }
      }
    });
    T* total = dw.data<T>();
    for (int c = 1; c < chunks; ++c) {
      const T* part = partials.data<T>() + (c - 1) * size;
      for (int64_t i = 0; i < size; ++i) total[i] += part[i];
    }
  });
  return dw;
}

// ---- Pooling ----

struct PoolPlan {
  int64_t batch = 0, channels = 0;
  cpu::Pool2dGeometry geometry;

  Shape input_shape() const { return {batch, channels, geometry.height, geometry.width}; }
  Shape output_shape() const { return {batch, channels, geometry.out_h, geometry.out_w}; }
  int64_t planes() const { return batch * channels; }
};

PoolPlan plan_pool2d(const Tensor& x, const Pool2dOptions& o, std::string_view op) {
  if (!cuda_kernels::on_cuda(x)) check_cpu(x, op);
  TORUS_CHECK(x.dim() == 4, "{}: input must be 4-D (N, C, H, W), got {}", op, x.shape_str());
  const auto& [kh, kw] = o.kernel;
  TORUS_CHECK(kh >= 1 && kw >= 1, "{}: kernel must be positive, got ({}, {})", op, kh, kw);
  TORUS_CHECK(o.stride[0] >= 0 && o.stride[1] >= 0, "{}: stride must be positive (or 0 for the kernel size), got ({}, {})",
              op, o.stride[0], o.stride[1]);
  // Padding beyond half a kernel would give windows made of padding only.
  TORUS_CHECK(o.padding[0] >= 0 && o.padding[1] >= 0 && o.padding[0] <= kh / 2 && o.padding[1] <= kw / 2,
              "{}: padding ({}, {}) must be non-negative and at most half the kernel ({}, {})", op,
              o.padding[0], o.padding[1], kh, kw);
  TORUS_CHECK(kh <= x.size(2) + 2 * o.padding[0] && kw <= x.size(3) + 2 * o.padding[1],
              "{}: kernel {}x{} is larger than the padded input {}x{} (input {}, padding ({}, {}))", op, kh,
              kw, x.size(2) + 2 * o.padding[0], x.size(3) + 2 * o.padding[1], x.shape_str(), o.padding[0],
              o.padding[1]);
  PoolPlan p;
  p.batch = x.size(0);
  p.channels = x.size(1);
  cpu::Pool2dGeometry& g = p.geometry;
  g.height = x.size(2);
  g.width = x.size(3);
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride_h = o.stride[0] == 0 ? kh : o.stride[0];
  g.stride_w = o.stride[1] == 0 ? kw : o.stride[1];
  g.pad_h = o.padding[0];
  g.pad_w = o.padding[1];
  g.out_h = sliding_outputs(g.height, kh, g.stride_h, g.pad_h, 1);
  g.out_w = sliding_outputs(g.width, kw, g.stride_w, g.pad_w, 1);
  return p;
}

cuda_conv_kernels::Conv2dGeometry device_geometry(const ConvPlan& p) {
  const cpu::Conv2dGeometry& g = p.geometry;
  cuda_conv_kernels::Conv2dGeometry s;
  s.batch = p.batch;
  s.channels = p.in_channels();
  s.height = g.height;
  s.width = g.width;
  s.out_channels = p.out_channels;
  s.kernel_h = g.kernel_h;
  s.kernel_w = g.kernel_w;
  s.stride = {g.stride_h, g.stride_w};
  s.padding = {g.pad_h, g.pad_w};
  s.dilation = {g.dilation_h, g.dilation_w};
  s.groups = p.groups;
  return s;
}

cuda_conv_kernels::Pool2dGeometry device_geometry(const PoolPlan& p) {
  const cpu::Pool2dGeometry& g = p.geometry;
  cuda_conv_kernels::Pool2dGeometry s;
  s.batch = p.batch;
  s.channels = p.channels;
  s.height = g.height;
  s.width = g.width;
  s.kernel = {g.kernel_h, g.kernel_w};
  s.stride = {g.stride_h, g.stride_w};
  s.padding = {g.pad_h, g.pad_w};
  return s;
}

// conv2d on a device: cuDNN's forward and its data and filter gradients.
Tensor conv2d_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvPlan& plan) {
  const cuda_conv_kernels::Conv2dGeometry geometry = device_geometry(plan);
  Tensor out = cuda_conv_kernels::conv2d(x.detach(), weight.detach(), bias.defined() ? bias.detach() : Tensor(), geometry);
  return record("conv2d", out, {x, weight, bias},
                [x = x.detach(), w = weight.detach(), geometry, nx = x.requires_grad(), nw = weight.requires_grad(),
                 nb = bias.defined() && bias.requires_grad()](const Tensor& g) {
                  return Grads{nx ? cuda_conv_kernels::conv2d_input_grad(g, w, geometry) : Tensor(),
                               nw ? cuda_conv_kernels::conv2d_weight_grad(g, x, geometry) : Tensor(),
                               nb ? sum(g, {0, 2, 3}) : Tensor()};
                });
}

// Pooling on a device through cuDNN; its backward reads the forward's x and y.
Tensor pool2d_cuda(cuda_conv_kernels::Pool mode, const Tensor& x, const PoolPlan& plan, std::string name) {
  const cuda_conv_kernels::Pool2dGeometry geometry = device_geometry(plan);
  Tensor out = cuda_conv_kernels::pool2d(mode, x.detach(), geometry);
  return record(std::move(name), out, {x}, [mode, x = x.detach(), y = out.detach(), geometry](const Tensor& g) {
    return Grads{cuda_conv_kernels::pool2d_backward(mode, x, y, g, geometry)};
  });
}

cpu::PlaneStrides plane_strides(const Tensor& x) {
  const Shape& s = x.strides();
  return {x.size(1), s[0], s[1], s[2], s[3]};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
  TORUS_PROFILE_OP("conv2d");
  check_conv2d_args(x, weight, bias, options);
  const ConvPlan plan = plan_conv2d(x, weight, options);
  if (cuda_kernels::on_cuda(x)) return conv2d_cuda(x, weight, bias, plan);
  // x is read in place whatever its strides; the weight must be (O, K) row-major for GEMM.
  const Tensor w = weight.detach().contiguous();
  Tensor out = conv2d_forward(x.detach(), w, bias.defined() ? bias.detach() : Tensor(), plan);
  // y_n = W · im2col(x_n) + b per group. dx_n = col2im(Wᵀ · g_n) (im2col is linear, col2im
  // its adjoint); dW = Σ_n g_n · im2col(x_n)ᵀ; db = the sum of g over N, OH, OW.
  return record("conv2d", out, {x, weight, bias},
                [x = x.detach(), w, weight_shape = weight.shape(), plan, nx = x.requires_grad(),
                 nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad()](const Tensor& grad) {
                  const Tensor g = grad.contiguous();
                  return Grads{nx ? conv2d_input_grad(g, w, plan) : Tensor(),
                               nw ? conv2d_weight_grad(g, x, weight_shape, plan) : Tensor(),
                               nb ? sum(g, {0, 2, 3}) : Tensor()};
                });
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  TORUS_PROFILE_OP("max_pool2d");
  const PoolPlan plan = plan_pool2d(x, options, "max_pool2d");
  if (cuda_kernels::on_cuda(x)) return pool2d_cuda(cuda_conv_kernels::Pool::max, x, plan, "max_pool2d");
  Tensor out = Tensor::empty(plan.output_shape(), x.dtype());
  Tensor argmax = Tensor::empty(plan.output_shape(), DType::i64);
  dispatch_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    cpu::max_pool2d_forward(x.data<T>(), plane_strides(x), plan.geometry, plan.planes(), out.data<T>(),
                            argmax.data<int64_t>());
  });
  // A window's max depends on its argmax element alone: the gradient flows there.
  return record("max_pool2d", out, {x}, [plan, argmax, dtype = x.dtype()](const Tensor& grad) {
    const Tensor g = grad.contiguous();
    Tensor dx = Tensor::zeros(plan.input_shape(), dtype);
    dispatch_floating(dtype, "max_pool2d backward", [&]<class T>() {
      cpu::max_pool2d_backward(g.data<T>(), argmax.data<int64_t>(), plan.geometry, plan.planes(),
                               dx.data<T>());
    });
    return Grads{dx};
  });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  TORUS_PROFILE_OP("avg_pool2d");
  const PoolPlan plan = plan_pool2d(x, options, "avg_pool2d");
  if (cuda_kernels::on_cuda(x)) return pool2d_cuda(cuda_conv_kernels::Pool::average, x, plan, "avg_pool2d");
  Tensor out = Tensor::empty(plan.output_shape(), x.dtype());
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    cpu::avg_pool2d_forward(x.data<T>(), plane_strides(x), plan.geometry, plan.planes(), out.data<T>());
  });
  // out = Σ_window x / (kh kw): every element of a window gets g / (kh kw).
  return record("avg_pool2d", out, {x}, [plan, dtype = x.dtype()](const Tensor& grad) {
    const Tensor g = grad.contiguous();
    Tensor dx = Tensor::zeros(plan.input_shape(), dtype);
    dispatch_floating(dtype, "avg_pool2d backward", [&]<class T>() {
      cpu::avg_pool2d_backward(g.data<T>(), plan.geometry, plan.planes(), dx.data<T>());
    });
    return Grads{dx};
  });
}

void register_conv_pool_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  const double r = 1e-4;  // GEMM and window sums accumulate in a different order from PyTorch
  auto conv = [](Conv2dOptions o) {
    return [o](const V& x) { return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); };
  };
  s.push_back({"conv2d/basic", {I::real({2, 3, 5, 5}), I::real({4, 3, 3, 3}), I::real({4})},
               conv({}), "F.conv2d(a, b, c)", r});
  s.push_back({"conv2d/stride2_pad1", {I::real({2, 3, 5, 5}), I::real({4, 3, 3, 3}), I::real({4})},
               conv({.stride = {2, 2}, .padding = {1, 1}}), "F.conv2d(a, b, c, stride=2, padding=1)", r});
  s.push_back({"conv2d/dilation2", {I::real({1, 2, 7, 7}), I::real({3, 2, 3, 3}), I::real({3})},
               conv({.padding = {1, 1}, .dilation = {2, 2}}), "F.conv2d(a, b, c, padding=1, dilation=2)", r});
  s.push_back({"conv2d/groups2", {I::real({2, 4, 5, 5}), I::real({6, 2, 3, 3}), I::real({6})},
               conv({.padding = {1, 1}, .groups = 2}), "F.conv2d(a, b, c, padding=1, groups=2)", r});
  // More images than threads: each thread unfolds and multiplies several, weight-gradient
  // partials are added across threads.
  s.push_back({"conv2d/batch5", {I::real({5, 2, 6, 6}), I::real({3, 2, 3, 3}), I::real({3})},
               conv({.padding = {1, 1}}), "F.conv2d(a, b, c, padding=1)", r});
  s.push_back({"conv2d/no_bias", {I::real({2, 3, 4, 4}), I::real({2, 3, 2, 2})}, conv({}), "F.conv2d(a, b)", r});
  s.push_back({"conv2d/strided_input", {I::strided({2, 3, 5, 4}), I::real({4, 3, 3, 2}), I::real({4})},
               conv({.padding = {1, 0}}), "F.conv2d(a, b, c, padding=(1, 0))", r});
  s.push_back({"conv2d/strided_weight", {I::real({1, 3, 5, 5}), I::strided({4, 3, 3, 3})},
               conv({.stride = {1, 2}}), "F.conv2d(a, b, stride=(1, 2))", r});
  s.push_back({"conv2d/asymmetric", {I::real({1, 2, 5, 6}), I::real({3, 2, 2, 3}), I::real({3})},
               conv({.stride = {2, 1}, .padding = {0, 2}, .dilation = {1, 2}}),
               "F.conv2d(a, b, c, stride=(2, 1), padding=(0, 2), dilation=(1, 2))", r});
  s.push_back({"conv2d/pointwise", {I::real({2, 4, 3, 3}), I::real({6, 2, 1, 1}), I::real({6})},
               conv({.groups = 2}), "F.conv2d(a, b, c, groups=2)", r});
  s.push_back({"conv2d/pointwise_strided", {I::strided({2, 3, 3, 4}), I::real({2, 3, 1, 1})}, conv({}),
               "F.conv2d(a, b)", r});
  s.push_back({"conv2d/constant_input", {I::constant({2, 3, 4, 4}), I::real({2, 3, 3, 3}), I::real({2})},
               conv({.padding = {1, 1}}), "F.conv2d(a, b, c, padding=1)", r});

  auto pool = [](Tensor (*f)(const Tensor&, const Pool2dOptions&), Pool2dOptions o) {
    return [f, o](const V& x) { return f(x[0], o); };
  };
  const Pool2dOptions k2{};
  const Pool2dOptions k3s1p1{.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}};
  const Pool2dOptions rect{.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 0}};
  s.push_back({"max_pool2d/k2s2", {I::real({2, 3, 4, 4})}, pool(max_pool2d, k2), "F.max_pool2d(a, 2)"});
  s.push_back({"max_pool2d/k3s1p1", {I::real({2, 2, 5, 5})}, pool(max_pool2d, k3s1p1),
               "F.max_pool2d(a, 3, stride=1, padding=1)"});
  s.push_back({"max_pool2d/rect_strided", {I::strided({2, 2, 5, 6})}, pool(max_pool2d, rect),
               "F.max_pool2d(a, (3, 2), stride=(2, 1), padding=(1, 0))"});
  s.push_back({"max_pool2d/odd_size", {I::real({1, 2, 5, 7})}, pool(max_pool2d, k2), "F.max_pool2d(a, 2)"});
  s.push_back({"avg_pool2d/k2s2", {I::real({2, 3, 4, 4})}, pool(avg_pool2d, k2), "F.avg_pool2d(a, 2)", r});
  s.push_back({"avg_pool2d/k3s1p1", {I::real({2, 2, 5, 5})}, pool(avg_pool2d, k3s1p1),
               "F.avg_pool2d(a, 3, stride=1, padding=1)", r});
  s.push_back({"avg_pool2d/rect_strided", {I::strided({2, 2, 5, 6})}, pool(avg_pool2d, rect),
               "F.avg_pool2d(a, (3, 2), stride=(2, 1), padding=(1, 0))", r});
}

}  // namespace torus
