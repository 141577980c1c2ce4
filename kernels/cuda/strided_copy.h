// Copies between strided device tensors with broadcasting and dtype conversion (what
// Tensor::copy_, contiguous(), clone() and to(dtype) need on a device), and fills.
// The layout is computed on the host (strided_copy_layout, unit-tested without a GPU):
// dims of size 1 dropped and adjacent dims that both sides traverse contiguously merged,
// so a transpose reaches the kernel as 2-3 dims and a contiguous copy as one.
#pragma once

#include <cstdint>
#include <span>

#include <cuda_runtime_api.h>

namespace torus::cuda {

inline constexpr int kMaxCopyDims = 8;

// Element types the copy kernels know (the framework's DType, which kernels cannot see).
enum class ElementType : uint8_t { f32, f64, bf16, f16, i32, i64, u8 };
int element_bytes(ElementType type);

struct StridedCopyLayout {
  int ndim = 0;
  int64_t sizes[kMaxCopyDims] = {};
  int64_t dst_strides[kMaxCopyDims] = {};  // in elements
  int64_t src_strides[kMaxCopyDims] = {};  // in elements; 0 where the source is broadcast
  int64_t numel = 1;
  // Both sides dense and in the same order: a flat copy.
  bool flat() const { return ndim <= 1 && (ndim == 0 || (dst_strides[0] == 1 && src_strides[0] == 1)); }
};

// dst_shape and dst_strides describe the destination; the source has its own shape (right-
// aligned and broadcast to dst_shape, NumPy rules) and strides. Throws ValueError when the
// shapes do not broadcast, or when more than kMaxCopyDims dims remain after merging.
StridedCopyLayout strided_copy_layout(std::span<const int64_t> dst_shape, std::span<const int64_t> dst_strides,
                                      std::span<const int64_t> src_shape, std::span<const int64_t> src_strides);

// dst[i] = convert(src[i]) over the layout: dst and src point at the first element (offset
// applied). Conversions follow the CPU's (framework/tensor/convert.h): half types through
// float (round to nearest even), float to integer truncating, NaN to 0, saturating at the
// int64 range, narrower integers taking the low bits. Same-type flat copies are a
// cudaMemcpyAsync.
void strided_copy(void* dst, ElementType dst_type, const void* src, ElementType src_type,
                  const StridedCopyLayout& layout, cudaStream_t stream);

// Every element of the (strided) destination set to `value`, converted as above.
// layout's src strides are ignored.
void strided_fill(void* dst, ElementType type, double value, const StridedCopyLayout& layout, cudaStream_t stream);

}  // namespace torus::cuda
