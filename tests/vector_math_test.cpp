// The vectorizable exp and erf against libm over their whole float ranges, and their
// special values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/common/vector_math.h"

namespace torus {
namespace {

TEST(VectorExp, WithinTwoUlpOfLibmOverTheNormalRange) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.72f; x += 0.000731f) {
    const double want = std::exp(static_cast<double>(x));
    const double got = fn::vexp(x);
    worst = std::max(worst, std::abs(got - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7);  // 2 ulp of float is 2.4e-7 relative
}

TEST(VectorExp, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(fn::vexp(0.0f), 1.0f);
  EXPECT_EQ(fn::vexp(inf), inf);
  EXPECT_EQ(fn::vexp(100.0f), inf);
  EXPECT_EQ(fn::vexp(-inf), 0.0f);
  EXPECT_EQ(fn::vexp(-110.0f), 0.0f);
  EXPECT_TRUE(std::isnan(fn::vexp(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_GT(fn::vexp(88.7f), 3e38f);
  // Denormal results, as libm gives them.
  EXPECT_NEAR(fn::vexp(-100.0f), std::exp(-100.0), 1e-45);
  EXPECT_GT(fn::vexp(-100.0f), 0.0f);
}

// |got - want| in units of the float spacing at want.
double ulps(float got, double want) {
  const float rounded = static_cast<float>(want);
  const double spacing = std::nextafter(std::abs(rounded), std::numeric_limits<float>::infinity()) - std::abs(rounded);
  return std::abs(static_cast<double>(got) - want) / spacing;
}

TEST(VectorErf, WithinFourUlpOfLibm) {
  double worst = 0, worst_at = 0;
  auto check = [&](float x) {
    const double err = ulps(fn::verf(x), std::erf(static_cast<double>(x)));
    if (err > worst) worst = err, worst_at = x;
  };
  for (float x = -6.0f; x <= 6.0f; x += 0.0001373f) check(x);
  for (float x = 1e-30f; x < 1.0f; x *= 1.01f) {  // tiny magnitudes, where erf(x) ~ 2x/sqrt(pi)
    check(x);
    check(-x);
  }
  EXPECT_LE(worst, 4.0) << "at x = " << worst_at;
}

TEST(VectorErf, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(fn::verf(0.0f), 0.0f);
  EXPECT_EQ(fn::verf(inf), 1.0f);
  EXPECT_EQ(fn::verf(-inf), -1.0f);
  EXPECT_EQ(fn::verf(10.0f), 1.0f);
  EXPECT_EQ(fn::verf(-10.0f), -1.0f);
  EXPECT_TRUE(std::isnan(fn::verf(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace torus
