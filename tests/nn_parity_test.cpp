// Forward and backward parity of modules and whole models with the equivalent PyTorch
// modules (examples/torch_reference/models.py, torch.nn), given the same weights and
// inputs: Torus writes its state_dict and inputs as safetensors, tests/nn_reference.py
// loads them into PyTorch with load_state_dict(strict=True), runs forward and backward,
// and writes back outputs, the loss and every gradient.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"
#include "framework/nn/activation.h"
#include "framework/nn/attention.h"
#include "framework/nn/conv.h"
#include "framework/nn/embedding.h"
#include "framework/nn/models.h"
#include "framework/nn/normalization.h"
#include "framework/nn/pooling.h"
#include "framework/nn/transformer.h"
#include "framework/ops/ops.h"
#include "nn_model_options.h"
#include "nn_torch_support.h"

namespace torus {
namespace {

using json = nlohmann::json;

// Integers in [0, n) of `shape`, as i64.
Tensor random_indices(const Shape& shape, int64_t n, Generator& gen) {
  return Tensor::rand(shape, gen, DType::f64, 0.0, static_cast<double>(n) - 1e-9).to(DType::i64);
}

struct Case {
  std::string id;
  json torch;  // {"torch": expression} or {"kind", "options"}
  std::function<std::shared_ptr<Layer>(Generator&)> build;
  std::function<Tensor(Generator&)> input;
  int64_t classes = 0;  // > 0: cross-entropy over the last dim against random targets; else sum(out * upstream)
  DType dtype = DType::f32;
  bool training = false;
  double rtol = 1e-5;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.id; }

json expr(const std::string& e) { return {{"torch", e}}; }
json model(const std::string& kind, json options) { return {{"kind", kind}, {"options", std::move(options)}}; }

std::function<Tensor(Generator&)> normal(Shape shape, DType dtype = DType::f32) {
  return [shape, dtype](Generator& g) { return Tensor::randn(shape, g, dtype); };
}

std::vector<Case> cases() {
  using namespace nn;
  std::vector<Case> out;
  // Models.
  out.push_back({"mlp_w1", model("mlp", test::to_json(MlpOptions{})), [](Generator& g) { return make_mlp({}, g); },
                 normal({16, 784}), 10});
  const MlpOptions mlp_gelu{.in = 64, .hidden = {48, 32}, .classes = 5, .activation = Activation::gelu};
  out.push_back({"mlp_gelu_images", model("mlp", test::to_json(mlp_gelu)),
                 [=](Generator& g) { return make_mlp(mlp_gelu, g); }, normal({6, 1, 8, 8}), 5});
  out.push_back({"cnn_w3", model("cnn", test::to_json(CnnOptions{})), [](Generator& g) { return make_cnn({}, g); },
                 normal({8, 1, 28, 28}), 10});
  CnnOptions cnn_variant;
  cnn_variant.in_channels = 3;
  cnn_variant.height = cnn_variant.width = 16;
  cnn_variant.stages = {{8, 5, 1, 2, PoolKind::avg, 2}, {12, 3, 2, 1, PoolKind::max, 2}};
  cnn_variant.hidden = {20};
  cnn_variant.fc_relu = true;
  cnn_variant.activation = Activation::tanh;
  out.push_back({"cnn_variant", model("cnn", test::to_json(cnn_variant)),
                 [=](Generator& g) { return make_cnn(cnn_variant, g); }, normal({4, 3, 16, 16}), 10});
  const GptOptions gpt{.vocab = 64, .context = 16, .d_model = 32, .layers = 2, .heads = 4, .tied_head = true};
  // T = 12 < context: the mask is cut to the sequence.
  out.push_back({"gpt_tied", model("gpt", test::to_json(gpt)), [=](Generator& g) { return make_gpt(gpt, g); },
                 [](Generator& g) { return random_indices({3, 12}, 64, g); }, 64});
  GptOptions untied = gpt;
  untied.tied_head = false;
  out.push_back({"gpt_untied", model("gpt", test::to_json(untied)), [=](Generator& g) { return make_gpt(untied, g); },
                 [](Generator& g) { return random_indices({2, 16}, 64, g); }, 64});
  GptOptions dropout = gpt;
  dropout.dropout = 0.2;  // in eval mode: the identity on both sides
  out.push_back({"gpt_dropout_eval", model("gpt", test::to_json(dropout)),
                 [=](Generator& g) { return make_gpt(dropout, g); },
                 [](Generator& g) { return random_indices({2, 16}, 64, g); }, 64});
  GptOptions gpt64 = gpt;
  gpt64.dtype = DType::f64;
  Case exact{"gpt_tied_f64", model("gpt", test::to_json(gpt)), [=](Generator& g) { return make_gpt(gpt64, g); },
             [](Generator& g) { return random_indices({3, 12}, 64, g); }, 64, DType::f64};
  exact.rtol = 1e-12;
  out.push_back(exact);

  // Modules, against sum(out * upstream).
  Conv2dOptions conv;
  conv.stride = {2, 1};
  conv.padding = {1, 2};
  conv.dilation = {2, 1};
  conv.groups = 2;
  out.push_back({"conv2d", expr("nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)"),
                 [=](Generator& g) { return std::make_shared<Conv2d>(4, 6, std::array<int64_t, 2>{3, 5}, g, conv); },
                 normal({2, 4, 9, 7})});
  Pool2dOptions avg;
  avg.kernel = {3, 3};
  avg.stride = {2, 2};
  avg.padding = {1, 1};
  out.push_back({"avg_pool_padded", expr("nn.AvgPool2d(3, stride=2, padding=1)"),
                 [=](Generator&) { return std::make_shared<AvgPool2d>(avg); }, normal({2, 3, 7, 8})});
  out.push_back({"max_pool", expr("nn.MaxPool2d(2)"), [](Generator&) { return std::make_shared<MaxPool2d>(); },
                 normal({2, 3, 6, 7})});
  out.push_back({"layer_norm_2d", expr("nn.LayerNorm([3, 4])"),
                 [](Generator&) { return std::make_shared<LayerNorm>(Shape{3, 4}); }, normal({5, 3, 4})});
  out.push_back({"embedding", expr("nn.Embedding(11, 4)"),
                 [](Generator& g) { return std::make_shared<Embedding>(11, 4, g); },
                 [](Generator& g) { return random_indices({3, 7}, 11, g); }});
  out.push_back({"gelu_tanh", expr("nn.GELU(approximate='tanh')"),
                 [](Generator&) { return std::make_shared<GELU>(GeluApproximation::tanh); }, normal({4, 9})});
  const AttentionOptions attention{16, 4, 8, 0.0, DType::f32};
  out.push_back({"attention", expr("models.CausalSelfAttention(16, 4, 8)"),
                 [=](Generator& g) { return std::make_shared<CausalSelfAttention>(attention, g); },
                 normal({2, 8, 16})});
  out.push_back({"transformer_block", expr("models.Block(16, 4, 8)"),
                 [=](Generator& g) { return std::make_shared<TransformerBlock>(attention, g); },
                 normal({2, 5, 16})});
  return out;
}

struct Result {
  std::map<std::string, Tensor> torus;  // "output", "loss", "grad.<name>", "grad_input"
  std::map<std::string, Tensor> torch;
};

const char* dtype_key(DType d) { return d == DType::f64 ? "f64" : "f32"; }

class ModelParity : public ::testing::TestWithParam<Case> {
 protected:
  // Runs every case in Torus, then one PyTorch process for all of them.
  static void SetUpTestSuite() {
    dir_ = new test::ScratchDir("nn_parity");
    results_ = new std::map<std::string, Result>();
    json manifest = json::array();
    for (const Case& c : cases()) {
      Generator gen(42);
      const auto module = c.build(gen);
      module->train(c.training);
      Tensor x = c.input(gen);
      if (is_floating(x.dtype())) x = x.to(c.dtype).set_requires_grad(true);
      NamedTensors files;
      for (const auto& [name, t] : module->state_dict()) files.emplace_back("param." + name, t);
      files.emplace_back("input", x);
      const Tensor out = module->forward(x);
      Tensor loss;
      if (c.classes > 0) {
        Shape target_shape(out.shape().begin(), out.shape().end() - 1);
        const Tensor target = random_indices(target_shape, c.classes, gen);
        files.emplace_back("target", target);
        loss = cross_entropy(out.reshape({-1, c.classes}), target.reshape({-1}));
      } else {
        const Tensor upstream = Tensor::randn(out.shape(), gen, c.dtype);
        files.emplace_back("upstream", upstream);
        loss = sum(out * upstream);
      }
      loss.backward();
      Result& r = (*results_)[c.id];
      r.torus["output"] = out.detach();
      r.torus["loss"] = loss.detach();
      for (const auto& [name, p] : module->named_parameters()) r.torus["grad." + name] = p.grad();
      if (x.requires_grad()) r.torus["grad_input"] = x.grad();
      io::save_safetensors(dir_->file(c.id + "_in.safetensors"), files);
      json entry = c.torch;
      entry["id"] = c.id;
      entry["dtype"] = dtype_key(c.dtype);
      entry["training"] = c.training;
      manifest.push_back(entry);
    }
    std::ofstream(dir_->file("manifest.json")) << manifest.dump(1);
    error_ = new std::string(test::run_reference("nn_reference.py", "parity " + dir_->path().string(), *dir_));
    if (!error_->empty()) return;
    for (auto& [id, r] : *results_)
      for (auto& [name, t] : io::load_safetensors(dir_->file(id + "_torch.safetensors")).tensors)
        r.torch[name] = t.clone();  // off the mapping, which the scratch directory removes
  }
  static void TearDownTestSuite() {
    delete results_;
    delete error_;
    delete dir_;
  }
  static test::ScratchDir* dir_;
  static std::string* error_;
  static std::map<std::string, Result>* results_;
};

test::ScratchDir* ModelParity::dir_ = nullptr;
std::string* ModelParity::error_ = nullptr;
std::map<std::string, Result>* ModelParity::results_ = nullptr;

TEST_P(ModelParity, ForwardAndBackwardMatchPyTorch) {
  ASSERT_TRUE(error_->empty()) << *error_;
  const Case& c = GetParam();
  const Result& r = results_->at(c.id);
  std::vector<std::string> ours, theirs;
  for (const auto& [name, _] : r.torus) ours.push_back(name);
  for (const auto& [name, _] : r.torch) theirs.push_back(name);
  ASSERT_EQ(ours, theirs) << "Torus and PyTorch computed different gradients";
  for (const auto& [name, t] : r.torus) test::expect_close(t, r.torch.at(name), c.rtol, c.id + " " + name);
}

INSTANTIATE_TEST_SUITE_P(Modules, ModelParity, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.id; });

}  // namespace
}  // namespace torus
