// bfloat16 and IEEE float16 storage types with exact round-to-nearest-even conversion.
// Arithmetic happens in float: these types exist to store, load and convert.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TORUS_HOST_DEVICE __host__ __device__
#else
#define TORUS_HOST_DEVICE
#endif

namespace torus {

namespace detail {
TORUS_HOST_DEVICE inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
TORUS_HOST_DEVICE inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
}  // namespace detail

struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  TORUS_HOST_DEVICE explicit BFloat16(float f) {
    uint32_t u = detail::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it quiet and a NaN
      bits = static_cast<uint16_t>((u >> 16) | 0x40u);
      return;
    }
    // Round to nearest, ties to even, on the 16 bits that are dropped.
    uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
    bits = static_cast<uint16_t>((u + rounding_bias) >> 16);
  }
  TORUS_HOST_DEVICE operator float() const { return detail::bits_float(uint32_t{bits} << 16); }
};

struct Float16 {
  uint16_t bits = 0;

  Float16() = default;
  TORUS_HOST_DEVICE explicit Float16(float f) { bits = from_float(f); }
  TORUS_HOST_DEVICE operator float() const { return to_float(bits); }

  TORUS_HOST_DEVICE static uint16_t from_float(float f) {
    uint32_t u = detail::float_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
    if (abs < 0x38800000u) {
      // Result is subnormal (or zero): add 0.5 (as a float) so the FPU rounds the
      // mantissa to the 2^-24 grid with ties to even, then read the low bits.
      float shifted = detail::bits_float(abs) + 0.5f;
      return static_cast<uint16_t>(sign | (detail::float_bits(shifted) - 0x3f000000u));
    }
    uint32_t mantissa_odd = (abs >> 13) & 1u;
    abs += 0xc8000fffu + mantissa_odd;  // rebias exponent (-112 << 23) and round
    return static_cast<uint16_t>(sign | (abs >> 13));
  }

  TORUS_HOST_DEVICE static float to_float(uint16_t h) {
    uint32_t sign = (uint32_t{h} & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1fu) return detail::bits_float(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
      // Subnormal or zero: value = mantissa * 2^-24, exact in float.
      float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
      return detail::bits_float(sign | detail::float_bits(magnitude));
    }
    return detail::bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  }
};

}  // namespace torus
