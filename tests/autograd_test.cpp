// The autograd engine: accumulation across shared subgraphs and repeated leaves,
// no-grad, detach, and when gradient-ready hooks fire.
#include <gtest/gtest.h>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {

Tensor leaf(std::vector<double> values, Shape shape) {
  Tensor t = Tensor::from_vector(values, shape, DType::f64);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, LeafUsedTwiceAccumulates) {
  Tensor x = leaf({3.0}, {});
  Tensor y = mul(x, x);  // dy/dx = 2x
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);
}

TEST(Autograd, SharedSubgraphRunsOnceAndSumsBothPaths) {
  Tensor x = leaf({2.0}, {});
  Tensor shared = exp(x);                    // e^x
  Tensor y = add(mul(shared, shared), shared);  // e^2x + e^x
  y.backward();
  EXPECT_NEAR(x.grad().item(), 2 * std::exp(4.0) + std::exp(2.0), 1e-9);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  Tensor x = leaf({1.0, 2.0}, {2});
  sum(mul(x, x)).backward();
  sum(mul(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4.0, 8.0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

// add's backward hands the same gradient buffer to both inputs: accumulating into one
// leaf's .grad later must not change the other's.
TEST(Autograd, LeavesNeverShareAGradientBuffer) {
  Tensor x = leaf({1.0, 2.0}, {2}), y = leaf({3.0, 4.0}, {2});
  sum(add(x, y)).backward();
  sum(mul(x, Tensor::from_vector({5.0, 6.0}, {2}, DType::f64))).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6.0, 7.0}));
  EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{1.0, 1.0}));
  EXPECT_NE(x.grad().storage(), y.grad().storage());
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = leaf({1.0}, {});
  Tensor y;
  {
    NoGradGuard guard;
    y = mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_THROW(y.backward(), ValueError);
  EXPECT_TRUE(GradMode::enabled());
}

TEST(Autograd, DetachCutsTheGraphButSharesStorage) {
  Tensor x = leaf({3.0}, {});
  Tensor d = mul(x, x).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = mul(x, d);  // d is a constant 9: dy/dx = 9
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 9.0);
}

TEST(Autograd, OnlyInputsThatRequireGradGetGradients) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor c = Tensor::from_vector({5.0, 6.0}, {2}, DType::f64);
  sum(mul(x, c)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5.0, 6.0}));
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, BackwardOfNonScalarNeedsAGradient) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor y = mul(x, x);
  EXPECT_THROW(y.backward(), ValueError);
  y.backward(Tensor::from_vector({1.0, 0.5}, {2}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 2.0}));
}

TEST(Autograd, HookFiresOnceWithTheFinalGradient) {
  Tensor x = leaf({1.0}, {});
  std::vector<double> seen;
  x.register_grad_ready_hook([&](Tensor& t) { seen.push_back(t.grad().item()); });
  // x reaches the loss by three paths; the hook must see their sum, once.
  Tensor y = add(add(mul(x, x), x), exp(x));
  y.backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NEAR(seen[0], 2.0 + 1.0 + std::exp(1.0), 1e-12);
}

TEST(Autograd, HooksFireLastLayerFirst) {
  // A chain of "layers": w1 is used first in the forward pass, w3 last. Gradients become
  // final in reverse, which data parallelism relies on to start all-reduces early.
  Tensor w1 = leaf({0.5}, {}), w2 = leaf({0.25}, {}), w3 = leaf({2.0}, {});
  std::vector<std::string> order;
  w1.register_grad_ready_hook([&](Tensor&) { order.push_back("w1"); });
  w2.register_grad_ready_hook([&](Tensor&) { order.push_back("w2"); });
  w3.register_grad_ready_hook([&](Tensor&) { order.push_back("w3"); });
  Tensor x = Tensor::from_vector({1.0, 2.0, 3.0}, {3}, DType::f64);
  Tensor h = tanh(mul(x, w1));
  h = tanh(mul(h, w2));
  h = tanh(mul(h, w3));
  sum(h).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"w3", "w2", "w1"}));
}

TEST(Autograd, GradientsThroughViews) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = x.t().narrow(0, 1, 2).reshape({4});  // elements x[0,1], x[1,1], x[0,2], x[1,2]
  sum(mul(y, Tensor::from_vector({1, 2, 3, 4}, {4}, DType::f64))).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 3, 0, 2, 4}));
}

TEST(Autograd, InPlaceUpdateOfALeafNeedsNoGrad) {
  Tensor w = leaf({1.0}, {});
  EXPECT_THROW(mul_(w, 2.0), ValueError);
  {
    NoGradGuard guard;
    mul_(w, 2.0);
  }
  EXPECT_EQ(w.item(), 2.0);
}

TEST(Autograd, DeepChainsDoNotOverflowTheStack) {
  Tensor x = leaf({1.0}, {});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = add(y, Tensor::scalar(0.0, DType::f64));
  y.backward();
  EXPECT_EQ(x.grad().item(), 1.0);
}

}  // namespace
}  // namespace torus
