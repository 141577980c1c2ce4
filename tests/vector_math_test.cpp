// The vectorizable exp against libm over its whole float range, and its special values.
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

}  // namespace
}  // namespace torus
