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

// erf for float, within 4 ulp of libm (2.3 measured; tests/vector_math_test.cpp checks
// it), with no branch the vectorizer cannot turn into a blend: for |x| < 1, x P(x^2), P a
// degree-6 least-squares fit of erf(x)/x (relative error 1e-9 before rounding); from 1 on,
// 1 - e^Q(|x| - 2.5), Q a degree-8 fit of log(erfc) on [1, 4] (erf is 1 in float past
// 3.92, so |x| is clamped there). Both are evaluated and one is chosen. NaN propagates.
TORUS_HOST_DEVICE inline float verf(float x) {
  const float s = x * x;
  float p = 7.898066542111337e-05f;
  p = p * s - 8.024311973713338e-04f;
  p = p * s + 5.190048832446337e-03f;
  p = p * s - 2.6854805648326874e-02f;
  p = p * s + 1.1283612251281738e-01f;
  p = p * s - 3.761262893676758e-01f;
  p = p * s + 1.128379225730896f;
  const float near_zero = x * p;

  const float a = std::fabs(x);
  const float t = (a < 1.0f ? 1.0f : (a > 4.0f ? 4.0f : a)) - 2.5f;
  float q = 1.6140534171427134e-06f;
  q = q * t - 1.330940085608745e-05f;
  q = q * t + 7.739445572951809e-05f;
  q = q * t - 4.201445262879133e-04f;
  q = q * t + 2.1651603747159243e-03f;
  q = q * t - 1.085851714015007e-02f;
  q = q * t - 9.438936114311218e-01f;
  q = q * t - 5.352680683135986f;
  q = q * t - 7.806815147399902f;
  const float tail = std::copysign(1.0f - vexp(q), x);

  float y = a < 1.0f ? near_zero : tail;
  if (x != x) y = x;
  return y;
}

TORUS_HOST_DEVICE inline double verf(double x) { return std::erf(x); }


}  // namespace torus::fn
