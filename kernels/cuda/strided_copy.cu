// The strided copy and fill kernels (see strided_copy.h): one thread per destination
// element in a grid-stride loop, offsets from the element's index over the merged dims.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/strided_copy.h"

namespace torus::cuda {
namespace {

template <class T>
inline constexpr bool is_half = false;
template <>
inline constexpr bool is_half<__nv_bfloat16> = true;
template <>
inline constexpr bool is_half<__half> = true;

template <class T>
inline constexpr bool is_integer = false;
template <>
inline constexpr bool is_integer<int32_t> = true;
template <>
inline constexpr bool is_integer<int64_t> = true;
template <>
inline constexpr bool is_integer<uint8_t> = true;

template <class T>
__device__ T from_float(float v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(v);
  else return __float2half_rn(v);
}

// convert.h's float_to_integer: truncate, NaN to 0, saturate at int64, low bits below.
template <class To>
__device__ To float_to_integer(double v) {
  long long wide;
  if (isnan(v)) wide = 0;
  else if (v >= 9223372036854775807.0) wide = 9223372036854775807LL;
  else if (v <= -9223372036854775808.0) wide = -9223372036854775807LL - 1;
  else wide = static_cast<long long>(v);
  return static_cast<To>(wide);
}

// convert.h's convert<To>(From), on the device.
template <class To, class From>
__device__ To convert(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (is_half<To>) {
    return from_float<To>(static_cast<float>(value));  // doubles round twice, as on the CPU
  } else if constexpr (is_half<From>) {
    return convert<To>(static_cast<float>(value));
  } else if constexpr (is_integer<To> && !is_integer<From>) {
    return float_to_integer<To>(static_cast<double>(value));
  } else {
    return static_cast<To>(value);
  }
}

struct Offsets {
  int64_t dst = 0;
  int64_t src = 0;
};

__device__ Offsets offsets_of(int64_t index, const StridedCopyLayout& layout) {
  Offsets o;
  for (int d = layout.ndim - 1; d >= 0; --d) {
    const int64_t i = index % layout.sizes[d];
    index /= layout.sizes[d];
    o.dst += i * layout.dst_strides[d];
    o.src += i * layout.src_strides[d];
  }
  return o;
}

template <class To, class From>
__global__ void strided_copy_kernel(To* __restrict__ dst, const From* __restrict__ src, StridedCopyLayout layout) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < layout.numel; i += stride) {
    const Offsets o = offsets_of(i, layout);
    dst[o.dst] = convert<To>(src[o.src]);
  }
}

template <class T>
__global__ void strided_fill_kernel(T* __restrict__ dst, double value, StridedCopyLayout layout) {
  const T v = convert<T>(value);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < layout.numel; i += stride)
    dst[offsets_of(i, layout).dst] = v;
}

// Calls f.template operator()<T>() with the device type of `type`.
template <class F>
void dispatch_element(ElementType type, const F& f) {
  switch (type) {
    case ElementType::f32: return f.template operator()<float>();
    case ElementType::f64: return f.template operator()<double>();
    case ElementType::bf16: return f.template operator()<__nv_bfloat16>();
    case ElementType::f16: return f.template operator()<__half>();
    case ElementType::i32: return f.template operator()<int32_t>();
    case ElementType::i64: return f.template operator()<int64_t>();
    case ElementType::u8: return f.template operator()<uint8_t>();
  }
  TORUS_CUDA_EXPECT(false, "strided copy: unknown element type ", static_cast<int>(type));
}

}  // namespace

void strided_copy(void* dst, ElementType dst_type, const void* src, ElementType src_type,
                  const StridedCopyLayout& layout, cudaStream_t stream) {
  if (layout.numel == 0) return;
  if (dst_type == src_type && layout.flat()) {
    TORUS_CUDA(cudaMemcpyAsync(dst, src, static_cast<size_t>(layout.numel) * element_bytes(dst_type),
                               cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const LaunchConfig1D config = elementwise_config(layout.numel);
  dispatch_element(dst_type, [&]<class To>() {
    dispatch_element(src_type, [&]<class From>() {
      strided_copy_kernel<To, From><<<static_cast<unsigned>(config.grid), config.block, 0, stream>>>(
          static_cast<To*>(dst), static_cast<const From*>(src), layout);
    });
  });
  TORUS_CUDA_CHECK_LAUNCH("strided_copy_kernel");
}

void strided_fill(void* dst, ElementType type, double value, const StridedCopyLayout& layout, cudaStream_t stream) {
  if (layout.numel == 0) return;
  if (value == 0.0 && !std::signbit(value) && layout.flat()) {  // all-zero bits in every type
    TORUS_CUDA(cudaMemsetAsync(dst, 0, static_cast<size_t>(layout.numel) * element_bytes(type), stream));
    return;
  }
  const LaunchConfig1D config = elementwise_config(layout.numel);
  dispatch_element(type, [&]<class T>() {
    strided_fill_kernel<T><<<static_cast<unsigned>(config.grid), config.block, 0, stream>>>(static_cast<T*>(dst),
                                                                                             value, layout);
  });
  TORUS_CUDA_CHECK_LAUNCH("strided_fill_kernel");
}

}  // namespace torus::cuda
