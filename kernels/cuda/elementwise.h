// Binary elementwise ops on f32 device buffers with broadcasting (broadcast.h), forward and
// backward. a, b, out and the gradients are contiguous in their own shapes.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/broadcast.h"

namespace torus::cuda {

// pow, maximum and minimum have a forward only: their gradients are written in the
// framework from other ops (framework/ops/elementwise_binary.cpp).
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum };
const char* binary_op_name(BinaryOp op);

// out = a op b, out in the broadcast shape (layout.numel elements). Same-shape operands
// with 16-byte aligned buffers go through float4 loads and stores.
void binary_forward(BinaryOp op, const float* a, const float* b, float* out,
                    const BroadcastLayout& layout, cudaStream_t stream);

// out[i] = a op b as 1 or 0 (u8), with broadcasting: the CPU's comparisons (so NaN compares
// false, and unequal).
enum class CompareOp { eq, lt, gt, le, ge };
void compare_forward(CompareOp op, const float* a, const float* b, uint8_t* out, const BroadcastLayout& layout,
                     cudaStream_t stream);

// grad_a (a's shape) and grad_b (b's shape) from grad_out (the broadcast shape), each
// summed over the dims its operand was broadcast along; either may be nullptr when not
// wanted. a is read only for mul and div (grad_b), b only for mul and div. add, sub, mul
// and div only.
void binary_backward(BinaryOp op, const float* grad_out, const float* a, const float* b,
                     float* grad_a, float* grad_b, const BroadcastLayout& layout,
                     cudaStream_t stream);

}  // namespace torus::cuda
