// bf16 autocast of matrix products (framework/ops/autocast.h) on the cpu: inside the guard,
// matmul and linear give exactly the f32 products of their operands rounded to bf16, and so
// do their backwards, even when backward() runs after the guard is gone; outside it, and for
// other dtypes, nothing changes. causal_attention under bf16 keeps every buffer in bf16
// (the device kernels' bf16 path, emulated), close to f32, except with dropout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/autocast.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"

namespace torus {
namespace {

Tensor rounded(const Tensor& t) { return t.detach().to(DType::bf16).to(DType::f32); }

void expect_equal(const Tensor& expected, const Tensor& actual, const char* what) {
  ASSERT_EQ(expected.shape(), actual.shape()) << what;
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  const std::vector<double> e = expected.to_vector<double>(), a = actual.to_vector<double>();
  for (size_t i = 0; i < e.size(); ++i) ASSERT_EQ(a[i], e[i]) << what << " [" << i << "]";
}

bool any_differs(const Tensor& x, const Tensor& y) {
  const std::vector<double> a = x.to_vector<double>(), b = y.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return true;
  return false;
}

TEST(Autocast, MatmulMultipliesTheRoundedOperandsForwardAndBackward) {
  Generator gen(3);
  const Tensor a = Tensor::randn({2, 5, 7}, gen).set_requires_grad();
  const Tensor b = Tensor::randn({7, 3}, gen).set_requires_grad();
  const Tensor projection = Tensor::randn({2, 5, 3}, gen);
  Tensor out;
  {
    AutocastGuard bf16(DType::bf16);
    out = matmul(a, b);
  }
  out.backward(projection);  // after the guard: the backward keeps the forward's precision
  expect_equal(matmul(rounded(a), rounded(b)), out, "forward");
  EXPECT_TRUE(any_differs(matmul(a.detach(), b.detach()), out)) << "bf16 rounding changed nothing";
  expect_equal(matmul(rounded(projection), rounded(b).t()), a.grad(), "gradient of a");
  expect_equal(matmul(rounded(a).reshape({10, 7}).t(), rounded(projection).reshape({10, 3})), b.grad(),
               "gradient of b");
}

TEST(Autocast, LinearMultipliesTheRoundedOperandsAndAddsTheBiasInF32) {
  Generator gen(4);
  const Tensor x = Tensor::randn({6, 8}, gen).set_requires_grad();
  const Tensor w = Tensor::randn({4, 8}, gen).set_requires_grad();
  const Tensor bias = Tensor::randn({4}, gen).set_requires_grad();
  const Tensor projection = Tensor::randn({6, 4}, gen);
  Tensor out;
  {
    AutocastGuard bf16(DType::bf16);
    out = linear(x, w, bias);
  }
  out.backward(projection);
  expect_equal(linear(rounded(x), rounded(w), bias.detach()), out, "forward");
  expect_equal(matmul(rounded(projection), rounded(w)), x.grad(), "gradient of x");
  expect_equal(matmul(rounded(projection).t(), rounded(x)), w.grad(), "gradient of w");
  expect_equal(sum(projection, {0}), bias.grad(), "gradient of the bias (not rounded)");
}

TEST(Autocast, OutsideTheGuardAndForOtherDtypesProductsAreUnchanged) {
  Generator gen(5);
  const Tensor a = Tensor::randn({4, 6}, gen), b = Tensor::randn({6, 2}, gen);
  const Tensor plain = matmul(a, b);
  const Tensor a64 = a.to(DType::f64), b64 = b.to(DType::f64);
  const Tensor plain64 = matmul(a64, b64);
  { AutocastGuard bf16(DType::bf16); }
  expect_equal(plain, matmul(a, b), "after the guard");
  {
    // and an f32 forward's backward stays f32 inside a bf16 guard
    const Tensor a_grad = a.detach().set_requires_grad(), b_copy = b.detach();
    const Tensor y = matmul(a_grad, b_copy);
    const Tensor expected = matmul(Tensor::ones(y.shape()), b_copy.t());
    {
      AutocastGuard bf16(DType::bf16);
      y.backward(Tensor::ones(y.shape()));
    }
    expect_equal(expected, a_grad.grad(), "f32 backward under a bf16 guard");
  }
  AutocastGuard bf16(DType::bf16);
  const Tensor out64 = matmul(a64, b64);
  ASSERT_EQ(out64.dtype(), DType::f64);
  EXPECT_FALSE(any_differs(plain64, out64)) << "f64 products changed under bf16 autocast";
}

// The largest |a - b| over the largest |b|.
double relative_gap(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double gap = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    gap = std::max(gap, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return gap / scale;
}

TEST(Autocast, AttentionRunsInBf16StorageAndStaysCloseToF32) {
  Generator gen(5);
  const Tensor qkv = Tensor::randn({2, 7, 24}, gen).set_requires_grad();  // 2 heads of 4
  const Tensor reference_qkv = qkv.detach().set_requires_grad();
  const Tensor projection = Tensor::randn({2, 7, 8}, gen);
  Tensor out;
  {
    AutocastGuard bf16(DType::bf16);
    out = causal_attention(qkv, 2, 0.0, true, nullptr);
  }
  out.backward(projection);
  const Tensor reference = causal_attention(reference_qkv, 2, 0.0, true, nullptr);
  reference.backward(projection);
  // Every value as a bf16 buffer holds it, forward and backward.
  expect_equal(rounded(out), out.detach(), "output is bf16-representable");
  expect_equal(rounded(qkv.grad()), qkv.grad(), "gradient is bf16-representable");
  EXPECT_TRUE(any_differs(reference, out)) << "bf16 changed nothing";
  EXPECT_LT(relative_gap(out, reference), 3e-2);
  EXPECT_LT(relative_gap(qkv.grad(), reference_qkv.grad()), 5e-2);
  // The causal mask holds: position 0's output depends on position 0 alone.
  const Tensor first = causal_attention(qkv.detach().narrow(1, 0, 1).contiguous(), 2, 0.0, false, nullptr);
  {
    AutocastGuard bf16(DType::bf16);
    expect_equal(causal_attention(qkv.detach().narrow(1, 0, 1).contiguous(), 2, 0.0, false, nullptr),
                 out.detach().narrow(1, 0, 1).contiguous(), "position 0 sees only itself");
  }
  EXPECT_LT(relative_gap(out.detach().narrow(1, 0, 1), first), 1e-2);
}

TEST(Autocast, AttentionWithDropoutStaysF32) {
  Generator gen(6);
  const Tensor qkv = Tensor::randn({1, 5, 12}, gen);
  Generator a(9), b(9);
  Tensor under;
  {
    AutocastGuard bf16(DType::bf16);
    under = causal_attention(qkv, 1, 0.25, true, &a);
  }
  expect_equal(causal_attention(qkv, 1, 0.25, true, &b), under, "dropout: the f32 path");
}

TEST(Autocast, GuardsNestAndRestoreAndRefuseOtherDtypesByName) {
  EXPECT_EQ(autocast_dtype(), DType::f32);
  {
    AutocastGuard outer(DType::bf16);
    EXPECT_EQ(autocast_dtype(), DType::bf16);
    {
      AutocastGuard inner(DType::f32);
      EXPECT_EQ(autocast_dtype(), DType::f32);
    }
    EXPECT_EQ(autocast_dtype(), DType::bf16);
  }
  EXPECT_EQ(autocast_dtype(), DType::f32);
  try {
    AutocastGuard f16(DType::f16);
    FAIL() << "f16 autocast was accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("f16"), std::string::npos) << e.what();
  }
}

TEST(Autocast, Tf32IsOffByDefaultAndLeavesCpuProductsAlone) {
  EXPECT_FALSE(allow_tf32());
  Generator gen(6);
  const Tensor a = Tensor::randn({5, 9}, gen), b = Tensor::randn({9, 4}, gen);
  const Tensor plain = matmul(a, b);
  set_allow_tf32(true);
  const Tensor with_tf32 = matmul(a, b);
  set_allow_tf32(false);
  EXPECT_FALSE(any_differs(plain, with_tf32)) << "TF32 is for device products only";
}

}  // namespace
}  // namespace torus
