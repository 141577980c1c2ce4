// Every op sample in the registry against PyTorch in f32: forward output and the
// gradient of every input, |torus - torch| <= atol + rtol |torch|. The tensors cross to
// Python and back as safetensors files; torch_reference.py evaluates each sample's torch
// expression.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "framework/tensor/random.h"
#include "framework/io/safetensors.h"
#include "support/op_samples.h"

namespace torus::test {
namespace {

namespace fs = std::filesystem;

struct Result {
  std::string id;  // name prefix of this sample's tensors in the exchange files
  std::vector<Tensor> inputs;
  Tensor out;
  bool differentiable = false;
};

// Runs every sample in Torus, writes inputs and upstream gradients for Python, runs
// PyTorch once for all of them.
class TorchReference {
 public:
  static TorchReference& get() {
    static TorchReference reference;
    return reference;
  }
  const fs::path& dir() const { return dir_; }
  const std::string& error() const { return error_; }
  Result& result(const std::string& name) { return results_.at(name); }
  // A tensor PyTorch computed ("<id>.out", "<id>.grad_in<i>").
  Tensor torch_tensor(const std::string& key) const {
    for (const auto& [name, t] : torch_results_.tensors)
      if (name == key) return t;
    ADD_FAILURE() << "PyTorch wrote no tensor " << key;
    return {};
  }

 private:
  TorchReference() {
    dir_ = fs::temp_directory_path() / fmt::format("torus_parity_{}", ::getpid());
    fs::create_directories(dir_);
    nlohmann::json manifest = nlohmann::json::array();
    NamedTensors exchange;
    int case_index = 0;
    for (const OpSample& sample : op_samples()) {
      const std::string id = fmt::format("c{}", case_index++);
      Result r;
      r.id = id;
      r.inputs = make_inputs(sample, DType::f32, 4321);
      r.out = sample.call(r.inputs);
      r.differentiable = is_floating(r.out.dtype()) && r.out.requires_grad();
      nlohmann::json entry = {{"name", sample.name}, {"id", id}, {"torch", sample.torch}};
      entry["inputs"] = nlohmann::json::array();
      for (size_t i = 0; i < r.inputs.size(); ++i) {
        const std::string key = fmt::format("{}.in{}", id, i);
        exchange.emplace_back(key, r.inputs[i].detach());
        entry["inputs"].push_back({{"key", key}, {"requires_grad", r.inputs[i].requires_grad()}});
      }
      exchange.emplace_back(id + ".torus_out", r.out.detach());
      if (r.differentiable) {
        Generator gen(7);
        Tensor projection = Tensor::randn(r.out.shape(), gen, DType::f32);
        exchange.emplace_back(id + ".grad_out", projection);
        r.out.backward(projection);
        entry["grad_out"] = id + ".grad_out";
      }
      manifest.push_back(entry);
      results_.emplace(sample.name, std::move(r));
    }
    std::ofstream(dir_ / "manifest.json") << manifest.dump(1);
    io::save_safetensors((dir_ / "torus.safetensors").string(), exchange);
    const std::string command = fmt::format("{} {} {} > {} 2>&1", TORUS_TEST_PYTHON,
                                            TORUS_TORCH_REFERENCE_SCRIPT, dir_.string(),
                                            (dir_ / "python.log").string());
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(dir_ / "python.log");
      error_ = "the PyTorch reference script failed: " + command + "\n" +
               std::string(std::istreambuf_iterator<char>(log), {});
      return;
    }
    torch_results_ = io::load_safetensors((dir_ / "torch.safetensors").string());
  }

  ~TorchReference() {
    // Keep the exchange files when asked (to debug a mismatch in Python).
    if (std::getenv("TORUS_KEEP_PARITY_FILES") == nullptr) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  fs::path dir_;
  std::string error_;
  std::map<std::string, Result> results_;
  io::SafetensorsContents torch_results_;
};

void expect_close(const Tensor& got, const Tensor& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int reported = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double tolerance = 1e-6 + rtol * std::abs(w[i]);
    if (!(std::abs(g[i] - w[i]) <= tolerance) && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: torus " << g[i] << " vs torch " << w[i]
                    << " (tolerance " << tolerance << ")";
  }
}

class OpTorchParity : public ::testing::TestWithParam<OpSample> {};

TEST_P(OpTorchParity, ForwardAndBackwardMatchPyTorch) {
  const OpSample& sample = GetParam();
  TorchReference& reference = TorchReference::get();
  ASSERT_TRUE(reference.error().empty()) << reference.error();
  Result& r = reference.result(sample.name);
  const std::string& id = r.id;
  Tensor want = reference.torch_tensor(id + ".out");
  ASSERT_TRUE(want.defined());
  expect_close(r.out.detach(), want.to(r.out.dtype()), sample.rtol, sample.name + " forward");
  if (!r.differentiable) return;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    if (!r.inputs[i].requires_grad()) continue;
    Tensor torch_grad = reference.torch_tensor(fmt::format("{}.grad_in{}", id, i));
    ASSERT_TRUE(r.inputs[i].grad().defined()) << sample.name << ": input " << i << " has no grad";
    expect_close(r.inputs[i].grad(), torch_grad, sample.rtol,
                 fmt::format("{} grad of input {}", sample.name, i));
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, OpTorchParity, ::testing::ValuesIn(op_samples()),
                         [](const auto& info) { return test_name(info.param.name); });

}  // namespace
}  // namespace torus::test
