// Value conversion between any two element types; half types go through float.
// Floating point to integer truncates toward zero like C++, but is defined for every
// input (C++ leaves out-of-range values undefined): NaN gives 0, values beyond int64
// saturate, and narrower integers take the low bits of the int64, which is what
// PyTorch gives on x86 (tensor(-5.5).to(torch.uint8) == 251).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/common/half.h"

namespace torus {

template <class T>
inline constexpr bool is_half_type = std::is_same_v<T, BFloat16> || std::is_same_v<T, Float16>;

template <class To, class From>
inline To float_to_integer(From value) {
  const double v = static_cast<double>(value);
  int64_t wide;
  if (std::isnan(v)) {
    wide = 0;
  } else if (v >= 9223372036854775807.0) {
    wide = std::numeric_limits<int64_t>::max();
  } else if (v <= -9223372036854775808.0) {
    wide = std::numeric_limits<int64_t>::min();
  } else {
    wide = static_cast<int64_t>(v);
  }
  return static_cast<To>(wide);  // modular for narrower types (defined since C++20)
}

template <class To, class From>
inline To convert(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (is_half_type<To>) {
    return To(static_cast<float>(value));
  } else if constexpr (is_half_type<From>) {
    return convert<To>(static_cast<float>(value));
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    return float_to_integer<To>(value);
  } else {
    return static_cast<To>(value);
  }
}

}  // namespace torus
