// Every op sample in the registry: analytic gradients (backward) against central finite
// differences in f64, through a random projection of the output.
#include <gtest/gtest.h>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"
#include "support/op_samples.h"

namespace torus::test {
namespace {

class OpGradCheck : public ::testing::TestWithParam<OpSample> {};

// Address of the logical element `flat` of a (possibly strided) f64 tensor.
double& element(const Tensor& t, int64_t flat) {
  int64_t offset = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (flat % t.shape()[d]) * t.strides()[d];
    flat /= t.shape()[d];
  }
  return t.data<double>()[offset];
}

TEST_P(OpGradCheck, MatchesFiniteDifferences) {
  const OpSample& sample = GetParam();
  std::vector<Tensor> inputs = make_inputs(sample, DType::f64, 1234);
  bool any = false;
  for (auto& t : inputs) any |= t.requires_grad();
  if (!any) GTEST_SKIP() << sample.name << " takes no differentiable input";

  Tensor out = sample.call(inputs);
  if (!is_floating(out.dtype()) || !out.requires_grad())
    GTEST_SKIP() << sample.name << " has a non-differentiable output (" << dtype_name(out.dtype()) << ")";

  // loss = sum(out * projection): its gradient is backward seeded with `projection`.
  Generator gen(99);
  Tensor projection = Tensor::randn(out.shape(), gen, DType::f64);
  out.backward(projection);
  auto objective = [&] {
    NoGradGuard no_grad;
    return sum(mul(sample.call(inputs), projection)).item();
  };

  const double eps = 1e-6;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.requires_grad()) continue;
    ASSERT_TRUE(input.grad().defined()) << "input " << i << " got no gradient";
    ASSERT_EQ(input.grad().shape(), input.shape()) << "input " << i;
    const Tensor analytic = input.grad();
    for (int64_t k = 0; k < input.numel(); ++k) {
      double& x = element(input, k);
      const double saved = x;
      x = saved + eps;
      const double plus = objective();
      x = saved - eps;
      const double minus = objective();
      x = saved;
      const double numeric = (plus - minus) / (2 * eps);
      const double got = element(analytic, k);
      EXPECT_NEAR(got, numeric, 1e-6 + 1e-5 * std::abs(numeric))
          << sample.name << ": d/d input" << i << "[" << k << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, OpGradCheck, ::testing::ValuesIn(op_samples()),
                         [](const auto& info) { return test_name(info.param.name); });

}  // namespace
}  // namespace torus::test
