// Binary elementwise kernels with broadcasting (elementwise.h). The formulas are the
// functors of kernels/common/functors.h, shared with the CPU backend.
//
// Backward: out = f(a, b), so dL/da = sum over the dims a was stretched along of
// g * df/da (add: 1, sub: 1, mul: b, div: 1/b) and dL/db likewise (add: 1, sub: -1,
// mul: a, div: -a/b^2). One thread per gradient element sums its broadcast dims in a fixed
// order, so the result is deterministic (no atomics).
#include "kernels/common/functors.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch_config.h"

namespace torus::cuda {

namespace {

// a op b over n elements of same-shape, 16-byte aligned buffers; the n % 4 tail element by
// element.
template <class Op>
__global__ void binary_forward_vec4_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                           float* __restrict__ out, int64_t n, Op op) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int64_t vectors = n / 4;
  const auto* a4 = reinterpret_cast<const float4*>(a);
  const auto* b4 = reinterpret_cast<const float4*>(b);
  auto* out4 = reinterpret_cast<float4*>(out);
  for (int64_t i = first; i < vectors; i += stride) {
    const float4 x = a4[i];
    const float4 y = b4[i];
    out4[i] = make_float4(op(x.x, y.x), op(x.y, y.y), op(x.z, y.z), op(x.w, y.w));
  }
  const int64_t tail = vectors * 4 + first;
  if (tail < n) out[tail] = op(a[tail], b[tail]);
}

// The general case: each output element's offsets in a and b from the merged layout. Out is
// float, or uint8_t for the comparisons.
template <class Out, class Op>
__global__ void binary_forward_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                      Out* __restrict__ out, BroadcastLayout layout, Op op) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < layout.numel; i += stride) {
    int64_t rest = i, a_offset = 0, b_offset = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t coord = rest % layout.sizes[d];
      rest /= layout.sizes[d];
      a_offset += coord * layout.a_strides[d];
      b_offset += coord * layout.b_strides[d];
    }
    out[i] = static_cast<Out>(op(a[a_offset], b[b_offset]));
  }
}

struct Equal { __device__ bool operator()(float x, float y) const { return x == y; } };
struct Less { __device__ bool operator()(float x, float y) const { return x < y; } };
struct Greater { __device__ bool operator()(float x, float y) const { return x > y; } };
struct LessEqual { __device__ bool operator()(float x, float y) const { return x <= y; } };
struct GreaterEqual { __device__ bool operator()(float x, float y) const { return x >= y; } };

// The local derivative times g, for the operand being differentiated.
struct BinaryGrad {
  BinaryOp op;
  bool wrt_b;
  __device__ float operator()(float g, float x, float y) const {
    switch (op) {
      case BinaryOp::add: return g;
      case BinaryOp::sub: return wrt_b ? -g : g;
      case BinaryOp::mul: return wrt_b ? g * x : g * y;
      case BinaryOp::div: return wrt_b ? -g * x / (y * y) : g / y;
      case BinaryOp::pow:
      case BinaryOp::maximum:
      case BinaryOp::minimum: break;  // refused by binary_backward
    }
    return 0.0f;
  }
};

// Splits `flat` over `ndim` dims of `sizes` (outermost first) and adds its coordinates
// times the output's, a's and b's strides to the three offsets.
__device__ __forceinline__ void add_offsets(int64_t flat, int ndim, const int64_t* sizes, const int64_t* out_strides,
                                            const int64_t* a_strides, const int64_t* b_strides, int64_t& out_offset,
                                            int64_t& a_offset, int64_t& b_offset) {
  for (int d = ndim - 1; d >= 0; --d) {
    const int64_t coord = flat % sizes[d];
    flat /= sizes[d];
    out_offset += coord * out_strides[d];
    a_offset += coord * a_strides[d];
    b_offset += coord * b_strides[d];
  }
}

__global__ void binary_backward_kernel(const float* __restrict__ grad_out, const float* __restrict__ a,
                                       const float* __restrict__ b, float* __restrict__ grad,
                                       ReductionLayout r, BinaryGrad local) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t t = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; t < r.outputs; t += stride) {
    int64_t out_base = 0, a_base = 0, b_base = 0;
    add_offsets(t, r.kept_ndim, r.kept_sizes, r.kept_out_strides, r.kept_a_strides, r.kept_b_strides, out_base,
                a_base, b_base);
    float sum = 0.0f;
    for (int64_t j = 0; j < r.reduced_count; ++j) {
      int64_t out_offset = out_base, a_offset = a_base, b_offset = b_base;
      add_offsets(j, r.reduced_ndim, r.reduced_sizes, r.reduced_out_strides, r.reduced_a_strides,
                  r.reduced_b_strides, out_offset, a_offset, b_offset);
      const float x = a != nullptr ? a[a_offset] : 0.0f;
      const float y = b != nullptr ? b[b_offset] : 0.0f;
      sum += local(grad_out[out_offset], x, y);
    }
    grad[t] = sum;
  }
}

template <class Op>
void launch_general(Op op, const float* a, const float* b, uint8_t* out, const BroadcastLayout& layout,
                    cudaStream_t stream) {
  const LaunchConfig1D config = elementwise_config(layout.numel);
  binary_forward_kernel<<<config.grid, config.block, 0, stream>>>(a, b, out, layout, op);
  TORUS_CUDA_CHECK_LAUNCH("binary_forward_kernel");
}

template <class Op>
void launch_forward(Op op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                    cudaStream_t stream) {
  const bool aligned = is_aligned(reinterpret_cast<uintptr_t>(a), 4, 4) &&
                       is_aligned(reinterpret_cast<uintptr_t>(b), 4, 4) &&
                       is_aligned(reinterpret_cast<uintptr_t>(out), 4, 4);
  if (layout.same_shape() && aligned) {
    const LaunchConfig1D config = elementwise_config(layout.numel, 4);
    binary_forward_vec4_kernel<<<config.grid, config.block, 0, stream>>>(a, b, out, layout.numel, op);
    TORUS_CUDA_CHECK_LAUNCH("binary_forward_vec4_kernel");
  } else {
    const LaunchConfig1D config = elementwise_config(layout.numel);
    binary_forward_kernel<<<config.grid, config.block, 0, stream>>>(a, b, out, layout, op);
    TORUS_CUDA_CHECK_LAUNCH("binary_forward_kernel");
  }
}

}  // namespace

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::pow: return "pow";
    case BinaryOp::maximum: return "maximum";
    case BinaryOp::minimum: return "minimum";
  }
  return "?";
}

void binary_forward(BinaryOp op, const float* a, const float* b, float* out,
                    const BroadcastLayout& layout, cudaStream_t stream) {
  if (layout.numel == 0) return;
  TORUS_CUDA_EXPECT(a != nullptr && b != nullptr && out != nullptr, binary_op_name(op), "_forward: null buffer");
  switch (op) {
    case BinaryOp::add: return launch_forward(fn::Add{}, a, b, out, layout, stream);
    case BinaryOp::sub: return launch_forward(fn::Sub{}, a, b, out, layout, stream);
    case BinaryOp::mul: return launch_forward(fn::Mul{}, a, b, out, layout, stream);
    case BinaryOp::div: return launch_forward(fn::Div{}, a, b, out, layout, stream);
    case BinaryOp::pow: return launch_forward(fn::Pow{}, a, b, out, layout, stream);
    case BinaryOp::maximum: return launch_forward(fn::Maximum{}, a, b, out, layout, stream);
    case BinaryOp::minimum: return launch_forward(fn::Minimum{}, a, b, out, layout, stream);
  }
}

void compare_forward(CompareOp op, const float* a, const float* b, uint8_t* out, const BroadcastLayout& layout,
                     cudaStream_t stream) {
  if (layout.numel == 0) return;
  TORUS_CUDA_EXPECT(a != nullptr && b != nullptr && out != nullptr, "compare_forward: null buffer");
  switch (op) {
    case CompareOp::eq: return launch_general(Equal{}, a, b, out, layout, stream);
    case CompareOp::lt: return launch_general(Less{}, a, b, out, layout, stream);
    case CompareOp::gt: return launch_general(Greater{}, a, b, out, layout, stream);
    case CompareOp::le: return launch_general(LessEqual{}, a, b, out, layout, stream);
    case CompareOp::ge: return launch_general(GreaterEqual{}, a, b, out, layout, stream);
  }
}

void binary_backward(BinaryOp op, const float* grad_out, const float* a, const float* b,
                     float* grad_a, float* grad_b, const BroadcastLayout& layout,
                     cudaStream_t stream) {
  TORUS_CUDA_EXPECT(op == BinaryOp::add || op == BinaryOp::sub || op == BinaryOp::mul || op == BinaryOp::div,
                    binary_op_name(op), "_backward: no kernel (its gradient is composed of other ops)");
  const bool needs_a = op == BinaryOp::mul || op == BinaryOp::div;
  TORUS_CUDA_EXPECT(grad_out != nullptr || layout.numel == 0, binary_op_name(op), "_backward: null grad_out");
  TORUS_CUDA_EXPECT(!needs_a || ((a != nullptr || grad_b == nullptr) && b != nullptr),
              binary_op_name(op), "_backward needs both inputs");
  float* grads[2] = {grad_a, grad_b};
  for (int operand = 0; operand < 2; ++operand) {
    if (grads[operand] == nullptr) continue;
    const ReductionLayout r = reduction_layout(layout, operand);
    const LaunchConfig1D config = per_output_config(r.outputs);
    if (config.grid == 0) continue;
    binary_backward_kernel<<<config.grid, config.block, 0, stream>>>(
        grad_out, needs_a ? a : nullptr, needs_a ? b : nullptr, grads[operand], r,
        BinaryGrad{op, operand == 1});
    TORUS_CUDA_CHECK_LAUNCH("binary_backward_kernel");
  }
}

}  // namespace torus::cuda
