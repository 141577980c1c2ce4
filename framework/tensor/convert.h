// Value conversion between any two element types; half types go through float.
#pragma once

#include <type_traits>

#include "kernels/common/half.h"

namespace torus {

template <class T>
inline constexpr bool is_half_type = std::is_same_v<T, BFloat16> || std::is_same_v<T, Float16>;

template <class To, class From>
inline To convert(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (is_half_type<To>) {
    return To(static_cast<float>(value));
  } else if constexpr (is_half_type<From>) {
    return static_cast<To>(static_cast<float>(value));
  } else {
    return static_cast<To>(value);
  }
}

}  // namespace torus
