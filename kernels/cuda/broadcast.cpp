// Broadcast and reduction layouts for the CUDA binary kernels (see broadcast.h).
#include "kernels/cuda/broadcast.h"

#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/shape_text.h"

namespace torus::cuda {

namespace {

int64_t numel_of(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t size : shape) n *= size;
  return n;
}

}  // namespace

std::vector<int64_t> broadcast_shape(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape) {
  const size_t ndim = std::max(a_shape.size(), b_shape.size());
  std::vector<int64_t> out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    // Aligned at the right: dim i of the output is dim i - (ndim - rank) of each operand.
    const int64_t a = i + a_shape.size() >= ndim ? a_shape[i + a_shape.size() - ndim] : 1;
    const int64_t b = i + b_shape.size() >= ndim ? b_shape[i + b_shape.size() - ndim] : 1;
    TORUS_CHECK(a >= 0 && b >= 0 && (a == b || a == 1 || b == 1),
                "broadcast: shapes {} and {} do not broadcast (dim {}: {} vs {})",
                shape_text(a_shape), shape_text(b_shape), i, a, b);
    out[i] = a == 1 ? b : a;
  }
  return out;
}

BroadcastLayout broadcast_layout(std::span<const int64_t> a_shape, std::span<const int64_t> b_shape) {
  const std::vector<int64_t> out = broadcast_shape(a_shape, b_shape);
  const size_t ndim = out.size();
  // Contiguous strides of each operand over the output's dims, 0 where it is stretched.
  std::vector<int64_t> a_strides(ndim, 0), b_strides(ndim, 0);
  int64_t a_step = 1, b_step = 1;
  for (size_t k = ndim; k-- > 0;) {
    const int64_t a = k + a_shape.size() >= ndim ? a_shape[k + a_shape.size() - ndim] : 1;
    const int64_t b = k + b_shape.size() >= ndim ? b_shape[k + b_shape.size() - ndim] : 1;
    a_strides[k] = a == 1 ? 0 : a_step;
    b_strides[k] = b == 1 ? 0 : b_step;
    a_step *= a;
    b_step *= b;
  }
  // Merge from the right, dropping size-1 dims: dim k joins the current innermost merged dim
  // when, for both operands, stepping once along k equals running through the merged dim.
  std::vector<int64_t> sizes, as, bs;  // innermost first
  for (size_t k = ndim; k-- > 0;) {
    if (out[k] == 1) continue;
    if (!sizes.empty() && a_strides[k] == as.back() * sizes.back() &&
        b_strides[k] == bs.back() * sizes.back()) {
      sizes.back() *= out[k];
      continue;
    }
    sizes.push_back(out[k]);
    as.push_back(a_strides[k]);
    bs.push_back(b_strides[k]);
  }
  TORUS_CHECK(sizes.size() <= static_cast<size_t>(kMaxBroadcastDims),
              "broadcast: shapes {} and {} need {} dims after merging; the CUDA kernels take at most {}",
              shape_text(a_shape), shape_text(b_shape), sizes.size(), kMaxBroadcastDims);
  BroadcastLayout layout;
  layout.ndim = static_cast<int>(sizes.size());
  for (int i = 0; i < layout.ndim; ++i) {  // back to outermost first
    const size_t from = sizes.size() - 1 - static_cast<size_t>(i);
    layout.sizes[i] = sizes[from];
    layout.a_strides[i] = as[from];
    layout.b_strides[i] = bs[from];
  }
  layout.numel = numel_of(out);
  layout.a_numel = numel_of(a_shape);
  layout.b_numel = numel_of(b_shape);
  return layout;
}

ReductionLayout reduction_layout(const BroadcastLayout& layout, int operand) {
  TORUS_ASSERT(operand == 0 || operand == 1, "operand {}", operand);
  const int64_t* own = operand == 0 ? layout.a_strides : layout.b_strides;
  ReductionLayout r;
  int64_t out_stride = 1;
  int64_t out_strides[kMaxBroadcastDims] = {};
  for (int i = layout.ndim; i-- > 0;) {
    out_strides[i] = out_stride;
    out_stride *= layout.sizes[i];
  }
  for (int i = 0; i < layout.ndim; ++i) {
    const bool kept = own[i] != 0;
    int& n = kept ? r.kept_ndim : r.reduced_ndim;
    (kept ? r.kept_sizes : r.reduced_sizes)[n] = layout.sizes[i];
    (kept ? r.kept_out_strides : r.reduced_out_strides)[n] = out_strides[i];
    (kept ? r.kept_a_strides : r.reduced_a_strides)[n] = layout.a_strides[i];
    (kept ? r.kept_b_strides : r.reduced_b_strides)[n] = layout.b_strides[i];
    (kept ? r.outputs : r.reduced_count) *= layout.sizes[i];
    ++n;
  }
  if (layout.numel == 0) r.reduced_count = 0;
  return r;
}

}  // namespace torus::cuda
