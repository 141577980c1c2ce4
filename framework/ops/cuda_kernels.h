// The CUDA column of the op files: each function runs one kernel of kernels/cuda/ on the
// tensors' device, on that device's compute stream, so an op file holds its cpu and cuda
// calls side by side and its shape rules and gradient formulas stay written once. The op
// checks shapes before the call; these check what the kernel adds (dtype, device) and say
// so by name. A build without CUDA links cuda_kernels_off.cpp, whose functions are never
// reached: no tensor can be on a device there.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::cuda_kernels {

inline bool on_cuda(const Tensor& t) { return t.device().type == DeviceType::cuda; }

enum class Binary { add, sub, mul, div, pow, maximum, minimum };

// a op b with broadcasting, into a new tensor of the broadcast shape on the device of
// the operand that is on one. A 0-dim cpu tensor on either side is taken as a scalar
// operand (moved to the device), as PyTorch does; any other operand must be on that
// device. f32 only for now.
Tensor binary(Binary op, const Tensor& a, const Tensor& b, std::string_view name);

// a op b as a u8 mask (1 where it holds) with broadcasting, operands as in binary().
enum class Compare { eq, lt, gt, le, ge };
Tensor compare(Compare op, const Tensor& a, const Tensor& b, std::string_view name);

// y = op(x) elementwise, into a new contiguous tensor on x's device. f32.
enum class Unary { exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, sign, square };
Tensor unary(Unary op, const Tensor& x, std::string_view name);
// The gradient of relu (from its input), tanh and sigmoid (from their output).
enum class UnaryGrad { relu, tanh, sigmoid };
Tensor unary_backward(UnaryGrad op, const Tensor& saved, const Tensor& grad, std::string_view name);

// where(condition, a, b) with broadcasting; condition u8, a and b f32 on one device (a
// 0-dim cpu a or b is taken as a scalar, as in binary()).
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// The row-major GEMM of a batch, as cpu::gemm takes it (kernels/cpu/gemm.h): for entry e,
// out[e] (m, n) = op(a at a_offsets[e]) · op(b at b_offsets[e]) + beta * out[e], out
// contiguous. Offsets in elements from a's and b's first element. One strided-batched
// cuBLAS call when the offsets step evenly, else one call per entry. a and b f32 (out f32),
// or bf16 (out bf16 or f32: autocast's products); accumulation in f32.
struct GemmCall {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0;
};
void gemm(const GemmCall& call, const Tensor& a, const std::vector<int64_t>& a_offsets, const Tensor& b,
          const std::vector<int64_t>& b_offsets, double beta, const Tensor& out);

// One AdamW step (torch.optim.AdamW, decoupled weight decay) of a parameter on a device:
// param, exp_avg, exp_avg_sq updated in place, grad read; all contiguous f32 of one size.
// grad_scale: undefined, or a 0-dim tensor on the device that multiplies grad as it is read.
struct AdamWScalars {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  int64_t step = 1;
};
void adamw(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
           const AdamWScalars& scalars, const Tensor& grad_scale);

// out (O, I) = sum over S of in (O, S, I); both contiguous, f32.
void sum_middle(const Tensor& in, const Tensor& out, int64_t outer, int64_t size, int64_t inner);

// The max over S of in (O, S, I), contiguous f32: values (O, I) f32 and indices (O, I) i64,
// the first maximum's s (a NaN wins), as cpu::max_middle.
void max_middle(const Tensor& in, const Tensor& values, const Tensor& indices, int64_t outer, int64_t size,
                int64_t inner);
// grad_in (O, S, I) = grad_out (O, I) at each max's index, 0 elsewhere.
void max_middle_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in, int64_t outer,
                         int64_t size, int64_t inner);

}  // namespace torus::cuda_kernels
