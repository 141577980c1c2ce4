// Modules without PyTorch: seeded initialisation with PyTorch's default distributions,
// the tied GPT head, train/eval mode and Dropout, Sequential naming, and errors that name
// the module and the shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "framework/nn/activation.h"
#include "framework/nn/conv.h"
#include "framework/nn/dropout.h"
#include "framework/nn/embedding.h"
#include "framework/nn/linear.h"
#include "framework/nn/models.h"
#include "framework/nn/normalization.h"
#include "framework/nn/sequential.h"
#include "framework/ops/ops.h"
#include "support/error_message.h"

namespace torus {
namespace {

struct Moments {
  double mean = 0, variance = 0, max_abs = 0;
};

Moments moments(const Tensor& t) {
  const auto v = t.to_vector<double>();
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) {
    m.variance += (x - m.mean) * (x - m.mean);
    m.max_abs = std::max(m.max_abs, std::abs(x));
  }
  m.variance /= static_cast<double>(v.size());
  return m;
}

using test::contains;
using test::error_of;

// ---- Initialisation ----

TEST(Init, SameSeedGivesTheSameWeightsAndAnotherSeedOthers) {
  auto values = [](uint64_t seed) {
    Generator gen(seed);
    std::vector<std::vector<float>> out;
    for (const auto& model : {nn::make_mlp({}, gen), nn::make_cnn({}, gen), nn::make_gpt({}, gen)})
      for (const auto& [_, t] : model->state_dict()) out.push_back(t.to_vector<float>());
    return out;
  };
  EXPECT_EQ(values(3), values(3));
  EXPECT_NE(values(3), values(4));
}

TEST(Init, LinearIsUniformWithinOneOverSqrtFanIn) {
  Generator gen(0);
  nn::Linear linear(784, 1024, gen);
  const double bound = 1.0 / std::sqrt(784.0);
  const Moments w = moments(linear.weight()), b = moments(linear.bias());
  EXPECT_LE(w.max_abs, bound);
  EXPECT_GT(w.max_abs, 0.999 * bound);
  EXPECT_NEAR(w.mean, 0.0, 0.01 * bound);
  EXPECT_NEAR(w.variance, bound * bound / 3, 0.01 * bound * bound / 3);  // U(-b, b) has variance b²/3
  EXPECT_LE(b.max_abs, bound);
  EXPECT_NEAR(b.variance, bound * bound / 3, 0.15 * bound * bound / 3);  // 1024 draws
}

TEST(Init, Conv2dFanInCountsGroupsAndTheKernel) {
  Generator gen(0);
  Conv2dOptions grouped;
  grouped.groups = 4;
  nn::Conv2d conv(16, 32, {3, 5}, gen, grouped);
  EXPECT_EQ(conv.weight().shape(), (Shape{32, 4, 3, 5}));
  const double bound = 1.0 / std::sqrt(4.0 * 3 * 5);
  const Moments w = moments(conv.weight());
  EXPECT_LE(w.max_abs, bound);
  EXPECT_GT(w.max_abs, 0.99 * bound);
  EXPECT_NEAR(w.variance, bound * bound / 3, 0.1 * bound * bound / 3);
  EXPECT_LE(moments(conv.bias()).max_abs, bound);
}

TEST(Init, EmbeddingIsStandardNormalAndLayerNormOnesAndZeros) {
  Generator gen(0);
  nn::Embedding embedding(1000, 64, gen);
  const Moments e = moments(embedding.weight());
  EXPECT_NEAR(e.mean, 0.0, 0.02);
  EXPECT_NEAR(e.variance, 1.0, 0.02);
  nn::LayerNorm norm(Shape{8});
  EXPECT_EQ(norm.weight().to_vector<float>(), std::vector<float>(8, 1.0f));
  EXPECT_EQ(norm.bias().to_vector<float>(), std::vector<float>(8, 0.0f));
}

TEST(Init, GptWeightsAreNormalWithStd002BiasesZeroAndTheW2ParameterCount) {
  Generator gen(0);
  nn::Gpt gpt(nn::GptOptions{}, gen);
  EXPECT_EQ(gpt.parameter_count(), 3257856);  // BENCHMARKS.md, W2
  for (const auto& [name, t] : gpt.named_parameters()) {
    const Moments m = moments(t);
    if (contains(name, "ln_")) {
      EXPECT_EQ(m.variance, 0.0) << name;
      EXPECT_EQ(m.mean, contains(name, "weight") ? 1.0 : 0.0) << name;
    } else if (contains(name, "bias")) {
      EXPECT_EQ(m.max_abs, 0.0) << name;
    } else {
      EXPECT_NEAR(std::sqrt(m.variance), 0.02, 0.001) << name;
      EXPECT_NEAR(m.mean, 0.0, 0.001) << name;
    }
  }
}

// ---- The tied GPT head ----

TEST(TiedGpt, HoldsTheWeightOnceAndReTiesOnLoad) {
  const nn::GptOptions options{.vocab = 32, .context = 8, .d_model = 16, .layers = 1, .heads = 2};
  Generator a_gen(1), b_gen(2);
  nn::Gpt a(options, a_gen), b(options, b_gen);
  const NamedTensors state = a.state_dict();
  int count = 0;
  for (const auto& [name, t] : state) {
    EXPECT_NE(name, "lm_head.weight");
    count += t.same(a.wte().weight()) ? 1 : 0;
  }
  EXPECT_EQ(count, 1);
  EXPECT_TRUE(a.head_weight().same(a.wte().weight()));

  b.load_state_dict(state);
  EXPECT_TRUE(b.head_weight().same(b.wte().weight()));
  EXPECT_EQ(b.head_weight().to_vector<float>(), a.wte().weight().to_vector<float>());
  const Tensor tokens = Tensor::from_data<int64_t>({1, 5, 31, 0, 7}, {1, 5});
  EXPECT_EQ(b.forward(tokens).to_vector<float>(), a.forward(tokens).to_vector<float>());

  // An untied checkpoint carries lm_head.weight, which a tied model does not take.
  nn::GptOptions untied = options;
  untied.tied_head = false;
  Generator c_gen(3);
  nn::Gpt c(untied, c_gen);
  EXPECT_TRUE(contains(error_of([&] { b.load_state_dict(c.state_dict()); }), "lm_head.weight"));
}

TEST(TiedGpt, TheSharedWeightGetsBothGradients) {
  const nn::GptOptions options{.vocab = 16, .context = 4, .d_model = 8, .layers = 1, .heads = 2};
  Generator gen(5);
  nn::Gpt gpt(options, gen);
  const Tensor tokens = Tensor::from_data<int64_t>({1, 2, 3, 1}, {1, 4});
  sum(gpt.forward(tokens)).backward();
  // Rows never looked up still get the head's gradient, so no row is all zeros.
  const auto g = gpt.wte().weight().grad().to_vector<float>();
  for (int64_t row = 0; row < 16; ++row) {
    double norm = 0;
    for (int64_t j = 0; j < 8; ++j) norm += std::abs(g[row * 8 + j]);
    EXPECT_GT(norm, 0.0) << "row " << row;
  }
}

// ---- Modes, Dropout, Sequential ----

TEST(Modes, TrainAndEvalReachEveryChild) {
  Generator gen(0);
  auto gpt = nn::make_gpt({.layers = 2, .dropout = 0.1}, gen);
  gpt->eval();
  for (const auto& [name, m] : gpt->named_modules()) EXPECT_FALSE(m->is_training()) << name;
  gpt->train();
  for (const auto& [name, m] : gpt->named_modules()) EXPECT_TRUE(m->is_training()) << name;
}

TEST(Dropout, DropsAtRateAndScalesInTrainingAndIsTheIdentityInEval) {
  auto gen = std::make_shared<Generator>(9);
  nn::Dropout dropout(0.25, gen);
  const Tensor x = Tensor::ones({100000});
  const auto y = dropout.forward(x).to_vector<float>();
  const auto zeros = std::count(y.begin(), y.end(), 0.0f);
  EXPECT_NEAR(static_cast<double>(zeros) / 1e5, 0.25, 0.01);
  for (float v : y) EXPECT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f);
  // The same generator position gives the same mask.
  auto again = std::make_shared<Generator>(9);
  EXPECT_EQ(nn::Dropout(0.25, again).forward(x).to_vector<float>(), y);
  dropout.eval();
  EXPECT_TRUE(dropout.forward(x).same(x));
  EXPECT_NO_THROW(nn::Dropout(0.0, nullptr));
  EXPECT_TRUE(contains(error_of([] { nn::Dropout(0.5, nullptr); }), "generator"));
  EXPECT_TRUE(contains(error_of([&] { nn::Dropout(1.5, gen); }), "1.5"));
}

TEST(Dropout, GptTrainingDrawsFromItsGeneratorAndEvalIsDeterministic) {
  Generator gen(0);
  nn::Gpt gpt({.vocab = 16, .context = 4, .d_model = 8, .layers = 1, .heads = 2, .dropout = 0.3}, gen);
  ASSERT_NE(gpt.dropout_generator(), nullptr);
  const Tensor tokens = Tensor::from_data<int64_t>({1, 2, 3, 1}, {1, 4});
  const uint64_t before = gpt.dropout_generator()->offset();
  const auto first = gpt.forward(tokens).to_vector<float>();
  EXPECT_GT(gpt.dropout_generator()->offset(), before);
  EXPECT_NE(gpt.forward(tokens).to_vector<float>(), first);
  gpt.eval();
  EXPECT_EQ(gpt.forward(tokens).to_vector<float>(), gpt.forward(tokens).to_vector<float>());
}

TEST(Sequential, NamesChildrenByIndexAsTorch) {
  Generator gen(0);
  auto cnn = nn::make_cnn({}, gen);  // W3
  std::vector<std::string> names;
  for (const auto& [name, _] : cnn->named_children()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8"}));
  EXPECT_EQ(cnn->forward(Tensor::zeros({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  nn::CnnOptions with_relu;
  with_relu.fc_relu = true;
  EXPECT_EQ(nn::make_cnn(with_relu, gen)->named_children().size(), 10u);
}

TEST(Mlp, TakesFeatureVectorsOrImages) {
  Generator gen(0);
  auto mlp = nn::make_mlp({.in = 12, .hidden = {5}, .classes = 3}, gen);
  const Tensor images = Tensor::randn({4, 3, 2, 2}, gen);
  EXPECT_EQ(mlp->forward(images).to_vector<float>(), mlp->forward(images.reshape({4, 12})).to_vector<float>());
}

// ---- Errors name the module and the shapes ----

TEST(Errors, ShapeMismatchesNameTheModuleAndTheShapes) {
  Generator gen(0);
  const std::string mlp = error_of([&] { nn::make_mlp({}, gen)->forward(Tensor::zeros({2, 100})); });
  EXPECT_TRUE(contains(mlp, "MLP(784 inputs)") && contains(mlp, "[2, 100]")) << mlp;

  const std::string cnn = error_of([&] { nn::make_cnn({}, gen)->forward(Tensor::zeros({2, 3, 28, 28})); });
  EXPECT_TRUE(contains(cnn, "Sequential layer 0") && contains(cnn, "Conv2d(1 -> 32") &&
              contains(cnn, "[2, 3, 28, 28]"))
      << cnn;
  const std::string small = error_of([&] { nn::make_cnn({}, gen)->forward(Tensor::zeros({2, 1, 8, 8})); });
  EXPECT_TRUE(contains(small, "Sequential layer 5: MaxPool2d") && contains(small, "[2, 64, 1, 1]")) << small;

  const std::string linear = error_of([&] { nn::Linear(4, 2, gen).forward(Tensor::zeros({3, 5})); });
  EXPECT_TRUE(contains(linear, "Linear(4 -> 2)") && contains(linear, "[3, 5]")) << linear;

  const std::string norm = error_of([] { nn::LayerNorm(Shape{8}).forward(Tensor::zeros({2, 7})); });
  EXPECT_TRUE(contains(norm, "LayerNorm([8])") && contains(norm, "[2, 7]")) << norm;

  nn::Gpt gpt({.vocab = 16, .context = 4, .d_model = 8, .layers = 1, .heads = 2}, gen);
  const std::string longer = error_of([&] { gpt.forward(Tensor::zeros({1, 5}, DType::i64)); });
  EXPECT_TRUE(contains(longer, "context 4") && contains(longer, "[1, 5]")) << longer;
  const std::string floats = error_of([&] { gpt.forward(Tensor::zeros({1, 3})); });
  EXPECT_TRUE(contains(floats, "i64")) << floats;
  const std::string token = error_of([&] { gpt.forward(Tensor::full({1, 3}, 16, DType::i64)); });
  EXPECT_FALSE(token.empty());
}

TEST(Errors, BadOptionsNameTheBuilderAndTheField) {
  Generator gen(0);
  EXPECT_TRUE(contains(error_of([&] { nn::make_mlp({.hidden = {16, 0}}, gen); }), "hidden[1]"));
  nn::CnnOptions tiny;
  tiny.height = tiny.width = 6;
  EXPECT_TRUE(contains(error_of([&] { nn::make_cnn(tiny, gen); }), "shrinks to nothing by stage 1"));
  EXPECT_TRUE(contains(error_of([&] { nn::make_gpt({.d_model = 30, .heads = 4}, gen); }), "multiple of heads"));
  EXPECT_TRUE(contains(error_of([&] { nn::make_gpt({.dropout = 1.0}, gen); }), "dropout"));
  Conv2dOptions grouped;
  grouped.groups = 3;
  EXPECT_TRUE(contains(error_of([&] { nn::Conv2d(4, 6, {3, 3}, gen, grouped); }), "groups 3"));
  EXPECT_TRUE(contains(error_of([] { nn::parse_activation("swish"); }), "swish"));
  EXPECT_EQ(nn::parse_activation("gelu_tanh"), nn::Activation::gelu_tanh);
}

}  // namespace
}  // namespace torus
