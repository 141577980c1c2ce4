// where(condition, a, b) on f32 device buffers with broadcasting: out[i] = condition[i] ?
// a[i] : b[i], condition u8. Each operand is contiguous in its own shape; the layout gives
// its strides over the output's dims (0 where broadcast), computed on the host
// (where_layout, tested without a GPU in tests/cuda_strided_copy_layout_test.cpp).
#pragma once

#include <cstdint>
#include <span>

#include <cuda_runtime_api.h>

#include "kernels/cuda/strided_copy.h"

namespace torus::cuda {

struct WhereLayout {
  int ndim = 0;
  int64_t sizes[kMaxCopyDims] = {};
  int64_t condition_strides[kMaxCopyDims] = {};
  int64_t a_strides[kMaxCopyDims] = {};
  int64_t b_strides[kMaxCopyDims] = {};
  int64_t numel = 1;
};

// Throws ValueError when an operand does not broadcast to out_shape, or out_shape has more
// than kMaxCopyDims dims of size > 1.
WhereLayout where_layout(std::span<const int64_t> out_shape, std::span<const int64_t> condition_shape,
                         std::span<const int64_t> a_shape, std::span<const int64_t> b_shape);

void where_forward(const uint8_t* condition, const float* a, const float* b, float* out, const WhereLayout& layout,
                   cudaStream_t stream);

}  // namespace torus::cuda
