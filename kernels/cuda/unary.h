// Unary elementwise ops on contiguous f32 device buffers, forward and the backward of
// those whose gradient is a function of a saved tensor and the upstream gradient. The
// formulas are the CPU's own functors (kernels/common/functors.h, host and device), so
// both backends compute the same expression.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

enum class UnaryOp { neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, sign, square };
const char* unary_op_name(UnaryOp op);

// y[i] = op(x[i]); y may be x.
void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream);

// grad_in[i] = backward(saved[i], grad_out[i]): relu from its input, tanh and sigmoid from
// their output (functors.h's ReluBackward, TanhBackward, SigmoidBackward).
enum class UnaryBackward { relu, tanh, sigmoid };
void unary_backward(UnaryBackward op, const float* saved, const float* grad_out, float* grad_in, int64_t n,
                    cudaStream_t stream);

}  // namespace torus::cuda
