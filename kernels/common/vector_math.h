// Transcendental functions written so the compiler vectorizes loops that call them:
// std::exp is an opaque libm call per element (glibc's vector variants need
// -ffast-math), which held exp-heavy kernels (softmax, cross-entropy) to 5 GB/s.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/common/half.h"

namespace torus::fn {

// e^x for float, within 2 ulp of libm on the normal range: x = n ln2 + r with
// |r| <= ln2/2 (Cody-Waite split of ln2), e^r by the minimax polynomial of Cephes'
// expf, and 2^n applied as two halves so that n from -150 to 128 (denormal results
// and the top binade) needs no special case. NaN and +-inf propagate.
TORUS_HOST_DEVICE inline float vexp(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float kMax = 88.72283935546875f, kMin = -103.972076416015625f;
  const float clamped = x > kMax ? kMax : (x < kMin ? kMin : x);
  // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits; reading n from
  // there, rather than converting float to int, keeps the loop vectorizable without
  // -fno-trapping-math.
  const float kShifter = 12582912.0f;
  const float shifted = clamped * kLog2e + kShifter;
  const float n = shifted - kShifter;
  const float r = clamped - n * kLn2Hi - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  int32_t shifted_bits, shifter_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
  std::memcpy(&shifter_bits, &kShifter, sizeof shifter_bits);
  const int32_t n_total = shifted_bits - shifter_bits;
  const int32_t n_half = n_total >> 1;
  const int32_t bits_a = (n_half + 127) << 23, bits_b = (n_total - n_half + 127) << 23;
  float scale_a, scale_b;
  std::memcpy(&scale_a, &bits_a, sizeof scale_a);
  std::memcpy(&scale_b, &bits_b, sizeof scale_b);
  float y = er * scale_a * scale_b;
  if (x > kMax) y = std::numeric_limits<float>::infinity();
  if (x < kMin) y = 0.0f;
  if (x != x) y = x;
  return y;
}

// Double precision stays on libm: f64 is for gradient checks, where accuracy rules.
TORUS_HOST_DEVICE inline double vexp(double x) { return std::exp(x); }

}  // namespace torus::fn
