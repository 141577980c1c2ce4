// Every op sample in the registry against PyTorch in f32: forward output and the
// gradient of every input, |torus - torch| <= atol + rtol |torch|. The inputs cross to
// Python as .npy files; torch_reference.py evaluates each sample's torch expression.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "framework/tensor/random.h"
#include "support/npy.h"
#include "support/op_samples.h"

namespace torus::test {
namespace {

namespace fs = std::filesystem;

struct Result {
  std::string id;  // file prefix of this sample in the exchange directory
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

 private:
  TorchReference() {
    dir_ = fs::temp_directory_path() / fmt::format("torus_parity_{}", ::getpid());
    fs::create_directories(dir_);
    nlohmann::json manifest = nlohmann::json::array();
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
        const std::string file = fmt::format("{}_in{}.npy", id, i);
        save_npy((dir_ / file).string(), r.inputs[i].detach());
        entry["inputs"].push_back({{"file", file}, {"requires_grad", r.inputs[i].requires_grad()}});
      }
      save_npy((dir_ / (id + "_torus_out.npy")).string(), r.out.detach());
      if (r.differentiable) {
        Generator gen(7);
        Tensor projection = Tensor::randn(r.out.shape(), gen, DType::f32);
        save_npy((dir_ / (id + "_grad_out.npy")).string(), projection);
        r.out.backward(projection);
        entry["grad_out"] = id + "_grad_out.npy";
      }
      manifest.push_back(entry);
      results_.emplace(sample.name, std::move(r));
    }
    std::ofstream(dir_ / "manifest.json") << manifest.dump(1);
    const std::string command = fmt::format("{} {} {} > {} 2>&1", TORUS_TEST_PYTHON,
                                            TORUS_TORCH_REFERENCE_SCRIPT, dir_.string(),
                                            (dir_ / "python.log").string());
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(dir_ / "python.log");
      error_ = "the PyTorch reference script failed: " + command + "\n" +
               std::string(std::istreambuf_iterator<char>(log), {});
    }
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
  const fs::path& dir = reference.dir();
  Result& r = reference.result(sample.name);
  const std::string& id = r.id;
  Tensor want = load_npy((dir / (id + "_torch_out.npy")).string());
  expect_close(r.out.detach(), want.to(r.out.dtype()), sample.rtol, sample.name + " forward");
  if (!r.differentiable) return;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    if (!r.inputs[i].requires_grad()) continue;
    Tensor torch_grad = load_npy((dir / fmt::format("{}_grad_in{}.npy", id, i)).string());
    ASSERT_TRUE(r.inputs[i].grad().defined()) << sample.name << ": input " << i << " has no grad";
    expect_close(r.inputs[i].grad(), torch_grad, sample.rtol,
                 fmt::format("{} grad of input {}", sample.name, i));
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, OpTorchParity, ::testing::ValuesIn(op_samples()),
                         [](const auto& info) { return test_name(info.param.name); });

}  // namespace
}  // namespace torus::test
