// Every module's state_dict has the keys, shapes and dtypes of the equivalent torch.nn
// module (torch.nn itself, or examples/torch_reference/models.py), read from PyTorch at
// test time by tests/nn_reference.py.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "framework/nn/activation.h"
#include "framework/nn/attention.h"
#include "framework/nn/conv.h"
#include "framework/nn/dropout.h"
#include "framework/nn/embedding.h"
#include "framework/nn/flatten.h"
#include "framework/nn/linear.h"
#include "framework/nn/models.h"
#include "framework/nn/normalization.h"
#include "framework/nn/pooling.h"
#include "framework/nn/sequential.h"
#include "framework/nn/transformer.h"
#include "nn_model_options.h"
#include "nn_torch_support.h"

namespace torus {
namespace {

using json = nlohmann::json;
using Build = std::function<std::shared_ptr<Module>(Generator&)>;

struct Case {
  std::string id;
  json torch;  // {"torch": expression} or {"kind", "options"}
  Build build;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.id; }

json expr(const std::string& e) { return {{"torch", e}}; }
json model(const std::string& kind, json options) { return {{"kind", kind}, {"options", std::move(options)}}; }

std::vector<Case> cases() {
  using namespace nn;
  Conv2dOptions strided;
  strided.stride = {2, 1};
  strided.padding = {1, 2};
  strided.dilation = {2, 1};
  strided.groups = 2;
  Pool2dOptions avg;
  avg.kernel = {3, 3};
  avg.stride = {2, 2};
  avg.padding = {1, 1};
  const AttentionOptions attention{16, 4, 8, 0.0, DType::f32};
  GptOptions untied{.vocab = 50, .context = 16, .d_model = 24, .layers = 2, .heads = 3, .tied_head = false};
  CnnOptions cnn_variant;
  cnn_variant.stages = {{8, 5, 1, 2, PoolKind::avg, 2}, {16, 3, 2, 1, PoolKind::none, 2}};
  cnn_variant.hidden = {32, 16};
  cnn_variant.fc_relu = true;
  MlpOptions mlp_variant{.in = 12, .hidden = {7}, .classes = 3, .activation = Activation::gelu_tanh};
  return {
      {"linear", expr("nn.Linear(5, 3)"), [](Generator& g) { return std::make_shared<Linear>(5, 3, g); }},
      {"linear_no_bias", expr("nn.Linear(5, 3, bias=False)"),
       [](Generator& g) { return std::make_shared<Linear>(5, 3, g, false); }},
      {"embedding", expr("nn.Embedding(11, 4)"), [](Generator& g) { return std::make_shared<Embedding>(11, 4, g); }},
      {"layer_norm", expr("nn.LayerNorm(6)"), [](Generator&) { return std::make_shared<LayerNorm>(Shape{6}); }},
      {"layer_norm_2d", expr("nn.LayerNorm([3, 4])"),
       [](Generator&) { return std::make_shared<LayerNorm>(Shape{3, 4}); }},
      {"layer_norm_no_affine", expr("nn.LayerNorm(6, elementwise_affine=False)"),
       [](Generator&) { return std::make_shared<LayerNorm>(Shape{6}, 1e-5, false); }},
      {"conv2d", expr("nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)"),
       [=](Generator& g) { return std::make_shared<Conv2d>(4, 6, std::array<int64_t, 2>{3, 5}, g, strided); }},
      {"conv2d_no_bias", expr("nn.Conv2d(3, 2, 1, bias=False)"),
       [](Generator& g) { return std::make_shared<Conv2d>(3, 2, std::array<int64_t, 2>{1, 1}, g, Conv2dOptions{}, false); }},
      {"max_pool", expr("nn.MaxPool2d(2)"), [](Generator&) { return std::make_shared<MaxPool2d>(); }},
      {"avg_pool", expr("nn.AvgPool2d(3, stride=2, padding=1)"),
       [=](Generator&) { return std::make_shared<AvgPool2d>(avg); }},
      {"dropout", expr("nn.Dropout(0.1)"),
       [](Generator&) { return std::make_shared<Dropout>(0.1, std::make_shared<Generator>(1)); }},
      {"relu", expr("nn.ReLU()"), [](Generator&) { return std::make_shared<ReLU>(); }},
      {"gelu_tanh", expr("nn.GELU(approximate='tanh')"),
       [](Generator&) { return std::make_shared<GELU>(GeluApproximation::tanh); }},
      {"flatten", expr("nn.Flatten()"), [](Generator&) { return std::make_shared<Flatten>(); }},
      {"sequential", expr("nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))"),
       [](Generator& g) {
         auto s = std::make_shared<Sequential>();
         s->push_back(std::make_shared<Linear>(4, 8, g));
         s->push_back(std::make_shared<ReLU>());
         s->push_back(std::make_shared<Linear>(8, 2, g));
         return s;
       }},
      {"attention", expr("models.CausalSelfAttention(16, 4, 8)"),
       [=](Generator& g) { return std::make_shared<CausalSelfAttention>(attention, g); }},
      {"transformer_block", expr("models.Block(16, 4, 8)"),
       [=](Generator& g) { return std::make_shared<TransformerBlock>(attention, g); }},
      {"mlp_w1", model("mlp", test::to_json(MlpOptions{})), [](Generator& g) { return make_mlp({}, g); }},
      {"mlp_variant", model("mlp", test::to_json(mlp_variant)),
       [=](Generator& g) { return make_mlp(mlp_variant, g); }},
      {"cnn_w3", model("cnn", test::to_json(CnnOptions{})), [](Generator& g) { return make_cnn({}, g); }},
      {"cnn_variant", model("cnn", test::to_json(cnn_variant)),
       [=](Generator& g) { return make_cnn(cnn_variant, g); }},
      {"gpt_w2_tied", model("gpt", test::to_json(GptOptions{})), [](Generator& g) { return make_gpt({}, g); }},
      {"gpt_untied", model("gpt", test::to_json(untied)), [=](Generator& g) { return make_gpt(untied, g); }},
  };
}

const char* torch_dtype(DType d) { return d == DType::f32 ? "float32" : d == DType::f64 ? "float64" : "other"; }

class StateDictNames : public ::testing::TestWithParam<Case> {
 protected:
  // One PyTorch run for every case.
  static void SetUpTestSuite() {
    dir_ = new test::ScratchDir("nn_names");
    json spec = json::array();
    for (const Case& c : cases()) {
      json entry = c.torch;
      entry["id"] = c.id;
      spec.push_back(entry);
    }
    std::ofstream(dir_->file("spec.json")) << spec.dump();
    error_ = new std::string(
        test::run_reference("nn_reference.py", "names " + dir_->file("spec.json") + " " + dir_->file("out.json"), *dir_));
    if (error_->empty()) torch_ = new json(json::parse(std::ifstream(dir_->file("out.json"))));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete error_;
    delete torch_;
  }
  static test::ScratchDir* dir_;
  static std::string* error_;
  static json* torch_;
};

test::ScratchDir* StateDictNames::dir_ = nullptr;
std::string* StateDictNames::error_ = nullptr;
json* StateDictNames::torch_ = nullptr;

TEST_P(StateDictNames, MatchTorch) {
  ASSERT_TRUE(error_->empty()) << *error_;
  const Case& c = GetParam();
  Generator gen(7);
  const auto module = c.build(gen);
  json ours = json::array();
  for (const auto& [name, t] : module->state_dict()) ours.push_back({name, t.shape(), torch_dtype(t.dtype())});
  EXPECT_EQ(ours, torch_->at(c.id)) << c.id << ": " << c.torch.dump();
}

INSTANTIATE_TEST_SUITE_P(Modules, StateDictNames, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.id; });

}  // namespace
}  // namespace torus
