// Broadcasting layouts for the CUDA binary kernels, computed on the host (unit-tested
// without a GPU in tests/cuda_launch_config_test.cpp). NumPy rules: shapes align at the
// right; a dim of 1 (or a missing one) stretches. Adjacent dims that both operands traverse
// contiguously are merged, so most layouts reach the kernel as 1 to 3 dims.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace torus::cuda {

inline constexpr int kMaxBroadcastDims = 8;

// The output's (broadcast) dims, and a's and b's strides in elements over them (0 where the
// operand is broadcast). a and b are contiguous in their own shapes.
struct BroadcastLayout {
  int ndim = 0;
  int64_t sizes[kMaxBroadcastDims] = {};
  int64_t a_strides[kMaxBroadcastDims] = {};
  int64_t b_strides[kMaxBroadcastDims] = {};
  int64_t numel = 1;  // of the output
  int64_t a_numel = 1;
  int64_t b_numel = 1;
  // a and b have the output's shape: the kernels take the flat (vectorized) path.
  bool same_shape() const { return a_numel == numel && b_numel == numel; }
};

// Throws ValueError naming both shapes when they do not broadcast, or when the merged
// layout still has more than kMaxBroadcastDims dims.
BroadcastLayout broadcast_layout(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape);

// The output shape of broadcasting a with b (unmerged, for allocating the result).
std::vector<int64_t> broadcast_shape(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape);

// For the backward: an operand's gradient sums the output gradient over the dims the operand
// is broadcast along. `kept` are the output dims where the operand's stride is non-zero (in
// order, so a flat index over them is the operand's own offset), `reduced` the others.
struct ReductionLayout {
  int kept_ndim = 0;
  int64_t kept_sizes[kMaxBroadcastDims] = {};
  int64_t kept_out_strides[kMaxBroadcastDims] = {};
  int64_t kept_a_strides[kMaxBroadcastDims] = {};
  int64_t kept_b_strides[kMaxBroadcastDims] = {};
  int reduced_ndim = 0;
  int64_t reduced_sizes[kMaxBroadcastDims] = {};
  int64_t reduced_out_strides[kMaxBroadcastDims] = {};
  int64_t reduced_a_strides[kMaxBroadcastDims] = {};
  int64_t reduced_b_strides[kMaxBroadcastDims] = {};
  int64_t outputs = 1;        // elements of the operand's gradient
  int64_t reduced_count = 1;  // output elements summed into each
};

// operand 0: a, 1: b.
ReductionLayout reduction_layout(const BroadcastLayout& layout, int operand);

}  // namespace torus::cuda
