// Element types of a tensor, their sizes and names, and a compile-time mapping
// from C++ types to DType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/common/error.h"
#include "kernels/common/half.h"

namespace torus {

enum class DType : uint8_t { f32, f64, bf16, f16, i32, i64, u8 };

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                       DType::i32, DType::i64, DType::u8};

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::bf16: case DType::f16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

// Names as in safetensors: F32, F64, BF16, F16, I32, I64, U8 (lower-case here).
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

constexpr bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16;
}

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::f64; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::bf16; };
template <> struct DTypeOf<Float16> { static constexpr DType value = DType::f16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };
template <class T> inline constexpr DType dtype_of = DTypeOf<T>::value;

// Calls f.template operator()<T>() with T the C++ type of `t`, for any dtype.
template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    case DType::bf16: return f.template operator()<BFloat16>();
    case DType::f16: return f.template operator()<Float16>();
    case DType::i32: return f.template operator()<int32_t>();
    case DType::i64: return f.template operator()<int64_t>();
    case DType::u8: return f.template operator()<uint8_t>();
  }
  throw Error("dispatch_all: corrupt dtype");
}

// Math ops run in f32 and f64; other dtypes are for storage and must be converted.
template <class F>
decltype(auto) dispatch_floating(DType t, std::string_view op, F&& f) {
  switch (t) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    default:
      throw NotImplementedError(fmt::format(
          "{}: dtype {} is not supported on cpu (use f32 or f64; convert with .to())", op,
          dtype_name(t)));
  }
}

// Integer index tensors (embedding, index_select, cross-entropy targets).
template <class F>
decltype(auto) dispatch_index(DType t, std::string_view op, F&& f) {
  switch (t) {
    case DType::i64: return f.template operator()<int64_t>();
    case DType::i32: return f.template operator()<int32_t>();
    default:
      throw ValueError(fmt::format("{}: indices must be i64 or i32, got {}", op, dtype_name(t)));
  }
}

}  // namespace torus
