// Builds kernel loop geometry from tensors: the bridge between Tensor (shapes, strides,
// broadcasting rules) and the pointer-and-stride loops of kernels/cpu.
#pragma once

#include <vector>

#include "framework/tensor/tensor.h"
#include "kernels/cpu/strided_loop.h"

namespace torus {

// The shape two or more shapes broadcast to (NumPy rules); names the op on mismatch.
Shape broadcast_shapes(const std::vector<Shape>& shapes, std::string_view op);

// A contiguous tensor seen as (outer, size, inner) around one dim: the layout of every
// kernel that works along one axis (reductions, softmax, gathers). A scalar is (1, 1, 1).
struct AxisLayout {
  int64_t outer = 1, size = 1, inner = 1;
};

inline AxisLayout axis_layout(const Shape& shape, int64_t dim) {
  AxisLayout layout;
  if (shape.empty()) return layout;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) layout.outer *= shape[d];
    if (d > dim) layout.inner *= shape[d];
  }
  layout.size = shape[dim];
  return layout;
}

// Geometry for out = f(inputs...) where every input broadcasts to out's shape.
template <int N>
cpu::LoopShape<N> loop_shape(const Tensor& out, const std::array<const Tensor*, N - 1>& inputs) {
  cpu::LoopShape<N> loop;
  const int64_t ndim = out.dim();
  TORUS_ASSERT(ndim <= cpu::kMaxDims, "tensors of more than {} dims", cpu::kMaxDims);
  loop.ndim = static_cast<int>(ndim);
  for (int64_t d = 0; d < ndim; ++d) {
    loop.sizes[d] = out.shape()[d];
    loop.strides[0][d] = out.strides()[d] * static_cast<int64_t>(out.element_size());
  }
  for (int k = 1; k < N; ++k) {
    const Tensor& in = *inputs[k - 1];
    const int64_t lead = ndim - in.dim();
    for (int64_t d = 0; d < ndim; ++d) {
      int64_t stride = 0;
      if (d >= lead && in.shape()[d - lead] != 1)
        stride = in.strides()[d - lead] * static_cast<int64_t>(in.element_size());
      loop.strides[k][d] = stride;
    }
  }
  return loop;
}

}  // namespace torus
