// strided_copy_layout (see strided_copy.h): broadcasting, then dropping and merging dims.
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/shape_text.h"
#include "kernels/cuda/strided_copy.h"
#include "kernels/cuda/where.h"

namespace torus::cuda {
namespace {

// Strides (in elements) of a contiguous operand of `shape` over the dims of `out`, right
// aligned: 0 where it is broadcast or missing.
std::vector<int64_t> broadcast_strides(std::span<const int64_t> out, std::span<const int64_t> shape,
                                       const char* what) {
  if (shape.size() > out.size())
    throw ValueError(std::string("where: ") + what + " " + shape_text(shape) + " has more dims than the output " +
                     shape_text(out));
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    const size_t d = out.size() - shape.size() + i;
    if (shape[i] != out[d] && shape[i] != 1)
      throw ValueError(std::string("where: ") + what + " " + shape_text(shape) + " does not broadcast to " +
                       shape_text(out));
    strides[d] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

}  // namespace

WhereLayout where_layout(std::span<const int64_t> out_shape, std::span<const int64_t> condition_shape,
                         std::span<const int64_t> a_shape, std::span<const int64_t> b_shape) {
  const std::vector<int64_t> c = broadcast_strides(out_shape, condition_shape, "condition");
  const std::vector<int64_t> a = broadcast_strides(out_shape, a_shape, "a");
  const std::vector<int64_t> b = broadcast_strides(out_shape, b_shape, "b");
  WhereLayout layout;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    layout.numel *= out_shape[d];
    if (out_shape[d] == 1) continue;
    if (layout.ndim == kMaxCopyDims)
      throw ValueError("where: more than " + std::to_string(kMaxCopyDims) + " dims of size > 1 in " +
                       shape_text(out_shape));
    layout.sizes[layout.ndim] = out_shape[d];
    layout.condition_strides[layout.ndim] = c[d];
    layout.a_strides[layout.ndim] = a[d];
    layout.b_strides[layout.ndim] = b[d];
    ++layout.ndim;
  }
  return layout;
}

int element_bytes(ElementType type) {
  switch (type) {
    case ElementType::f64: case ElementType::i64: return 8;
    case ElementType::f32: case ElementType::i32: return 4;
    case ElementType::bf16: case ElementType::f16: return 2;
    case ElementType::u8: return 1;
  }
  return 0;
}

StridedCopyLayout strided_copy_layout(std::span<const int64_t> dst_shape, std::span<const int64_t> dst_strides,
                                      std::span<const int64_t> src_shape, std::span<const int64_t> src_strides) {
  if (dst_shape.size() != dst_strides.size() || src_shape.size() != src_strides.size())
    throw ValueError("strided copy: a shape and its strides differ in length");
  if (src_shape.size() > dst_shape.size())
    throw ValueError("strided copy: source " + shape_text(src_shape) + " has more dims than destination " +
                     shape_text(dst_shape));
  const size_t lead = dst_shape.size() - src_shape.size();
  StridedCopyLayout layout;
  int64_t sizes[64], dst[64], src[64];
  if (dst_shape.size() > 64) throw ValueError("strided copy: more than 64 dims");
  int n = 0;
  for (size_t d = 0; d < dst_shape.size(); ++d) {
    const int64_t size = dst_shape[d];
    int64_t from_stride = 0;
    if (d >= lead) {
      const int64_t from_size = src_shape[d - lead];
      if (from_size != size && from_size != 1)
        throw ValueError("strided copy: source " + shape_text(src_shape) + " does not broadcast to " +
                         shape_text(dst_shape));
      from_stride = from_size == 1 ? 0 : src_strides[d - lead];
    }
    layout.numel *= size;
    if (size == 1) continue;  // contributes no offset
    // Merge with the previous (outer) dim when both sides step through them as one.
    if (n > 0 && dst[n - 1] == dst_strides[d] * size && src[n - 1] == from_stride * size) {
      sizes[n - 1] *= size;
      dst[n - 1] = dst_strides[d];
      src[n - 1] = from_stride;
      continue;
    }
    sizes[n] = size;
    dst[n] = dst_strides[d];
    src[n] = from_stride;
    ++n;
  }
  if (layout.numel == 0) return layout;  // nothing to copy: ndim 0, numel 0
  if (n > kMaxCopyDims)
    throw ValueError("strided copy: " + std::to_string(n) + " dims remain after merging (at most " +
                     std::to_string(kMaxCopyDims) + ") for destination " + shape_text(dst_shape));
  layout.ndim = n;
  for (int i = 0; i < n; ++i) {
    layout.sizes[i] = sizes[i];
    layout.dst_strides[i] = dst[i];
    layout.src_strides[i] = src[i];
  }
  return layout;
}

}  // namespace torus::cuda
