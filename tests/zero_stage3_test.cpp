// ZeRO stage 3's gathering and freeing, in a world of one (the multi-rank runs are in
// zero_test.cpp): the units of a GPT and an MLP, gradients bit-identical to the unsharded
// model's, only a few units gathered at any time in forward and backward, nothing
// gathered between steps or after an evaluation, a clear error for a parameter used
// while freed, and a shard layout that places every parameter once.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "distributed/comm/local_process_group.h"
#include "distributed/parallel/zero_sharding.h"
#include "framework/autograd/grad_mode.h"
#include "framework/nn/gpt.h"
#include "framework/nn/models.h"
#include "framework/ops/ops.h"
#include "support/error_message.h"

namespace torus {
namespace {

using parallel::ZeroOptions;
using parallel::ZeroSharding;

constexpr nn::GptOptions kGpt{64, 16, 32, 4, 2};

std::unique_ptr<nn::Gpt> make_gpt() {
  Generator gen(7);
  return std::make_unique<nn::Gpt>(kGpt, gen);
}

Tensor tokens(uint64_t seed) {
  Generator gen(seed);
  return (Tensor::rand({4, kGpt.context}, gen) * static_cast<double>(kGpt.vocab)).to(DType::i64);
}

Tensor loss_of(const Layer& gpt, const Tensor& input, const Tensor& target) {
  return cross_entropy(gpt(input).reshape({-1, kGpt.vocab}), target.reshape({-1}));
}

int64_t parameter_bytes(const Module& model) { return model.parameter_count() * 4; }

// This rank's shard of every parameter's gradient, read back through the layout.
std::vector<float> shard_gradient_of(const ZeroSharding& zero, const NamedTensors& reference) {
  std::vector<float> out(static_cast<size_t>(zero.shard().numel()), 0.0F);
  for (const auto& bucket : zero.layout())
    for (size_t j = 0; j < bucket.names.size(); ++j)
      for (const auto& [name, p] : reference)
        if (name == bucket.names[j])
          std::memcpy(out.data() + bucket.shard_offset + bucket.offsets[j], p.grad().data<float>(), p.nbytes());
  return out;
}

TEST(ZeroUnits, AGptIsCutIntoItsBlocksAndTheRestAnMlpIntoItsLinearLayers) {
  auto gpt = make_gpt();
  const std::vector<parallel::ZeroUnit> units = parallel::find_zero_units(*gpt);
  ASSERT_EQ(units.size(), 1 + static_cast<size_t>(kGpt.layers));
  EXPECT_EQ(units[0].name, "");
  std::set<std::string> model_unit;
  for (const auto& [name, p] : units[0].parameters) model_unit.insert(name);
  EXPECT_EQ(model_unit, (std::set<std::string>{"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"}));
  for (int64_t i = 0; i < kGpt.layers; ++i) EXPECT_EQ(units[1 + i].name, fmt::format("h.{}", i));

  Generator gen(3);
  auto mlp = nn::make_mlp({784, {64, 32}, 10}, gen);
  const std::vector<parallel::ZeroUnit> layers = parallel::find_zero_units(*mlp);
  ASSERT_EQ(layers.size(), 3U) << "the MLP itself has no parameters of its own";
  EXPECT_EQ(layers[0].parameters.front().first, "0.weight");
}

class ZeroStage3 : public ::testing::Test {
 protected:
  comm::LocalProcessGroup group_;
  std::unique_ptr<nn::Gpt> gpt_ = make_gpt();
  std::unique_ptr<nn::Gpt> reference_ = make_gpt();
};

TEST_F(ZeroStage3, GradientsAreTheUnshardedModelsBitForBit) {
  ZeroSharding zero(*gpt_, group_, ZeroOptions{3});
  zero.broadcast_state();
  for (int micro = 0; micro < 2; ++micro) {  // two micro-batches: the second is summed in
    zero.prepare_backward(micro == 1);
    loss_of(*gpt_, tokens(10 + micro), tokens(20 + micro)).backward();
    loss_of(*reference_, tokens(10 + micro), tokens(20 + micro)).backward();
  }
  zero.finish_gradients();
  const std::vector<float> expected = shard_gradient_of(zero, reference_->named_parameters());
  const std::vector<float> actual = zero.shard().grad().to_vector<float>();
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_EQ(std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(float)), 0);
}

TEST_F(ZeroStage3, OnlyAFewUnitsAreGatheredAtOnceAndNoneBetweenSteps) {
  ZeroSharding zero(*gpt_, group_, ZeroOptions{3});
  zero.broadcast_state();
  zero.prepare_backward(true);
  loss_of(*gpt_, tokens(1), tokens(2)).backward();
  zero.finish_gradients();
  const parallel::ZeroMemory memory = zero.memory();
  // The model's unit, the block in use and the next one prefetched: not all four blocks.
  const int64_t block = (parameter_bytes(*gpt_) - static_cast<int64_t>(kGpt.vocab + kGpt.context) * kGpt.d_model * 4 -
                         2 * kGpt.d_model * 4) / kGpt.layers;
  EXPECT_LT(memory.peak_gathered, parameter_bytes(*gpt_) - block);
  EXPECT_GT(memory.peak_gathered, 0);
  EXPECT_EQ(memory.parameters, static_cast<int64_t>(zero.shard().nbytes())) << "nothing gathered between steps";
  for (const Tensor& p : gpt_->parameters()) EXPECT_FALSE(p.storage()->has_memory());
}

TEST_F(ZeroStage3, AParameterUsedWhileFreedIsAClearError) {
  ZeroSharding zero(*gpt_, group_, ZeroOptions{3});
  zero.broadcast_state();
  const Tensor weight = gpt_->named_parameters().front().second;
  EXPECT_TRUE(test::contains(test::error_of([&] { weight.data<float>(); }), "tensor 'weight' [64, 32] has no memory"))
      << test::error_of([&] { weight.data<float>(); });
  // forward() rather than operator() skips the model's own hooks: the embeddings are not gathered.
  EXPECT_TRUE(test::contains(test::error_of([&] { gpt_->forward(tokens(5)); }), "its storage was released"));
  zero.materialize_parameters();
  EXPECT_EQ(weight.to_vector<float>(), reference_->named_parameters().front().second.to_vector<float>());
  zero.release_parameters();
  EXPECT_EQ(zero.memory().parameters, static_cast<int64_t>(zero.shard().nbytes()));
}

TEST_F(ZeroStage3, EvaluationLeavesNothingGathered) {
  ZeroSharding zero(*gpt_, group_, ZeroOptions{3});
  zero.broadcast_state();
  Tensor logits, expected;
  {
    NoGradGuard no_grad;
    logits = (*gpt_)(tokens(5));
    expected = (*reference_)(tokens(5));
  }
  EXPECT_EQ(logits.to_vector<float>(), expected.to_vector<float>());
  EXPECT_EQ(zero.memory().parameters, static_cast<int64_t>(zero.shard().nbytes()));
}

TEST_F(ZeroStage3, TheLayoutPlacesEveryParameterOnce) {
  ZeroSharding zero(*gpt_, group_, ZeroOptions{3});
  std::set<std::string> seen;
  int64_t shard_offset = 0;
  for (const auto& bucket : zero.layout()) {
    EXPECT_EQ(bucket.shard_offset, shard_offset);
    EXPECT_EQ(bucket.padded % 16, 0);
    shard_offset += bucket.padded;  // a world of one owns every chunk
    for (const std::string& name : bucket.names) EXPECT_TRUE(seen.insert(name).second) << name;
  }
  EXPECT_EQ(seen.size(), gpt_->named_parameters().size());
  EXPECT_EQ(shard_offset, zero.shard().numel());
}

}  // namespace
}  // namespace torus
