// Modules (named parameters, state_dict, loading), SGD's update rule, and the IDX reader.
#include <gtest/gtest.h>

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/autograd/grad_mode.h"
#include "framework/data/idx.h"
#include "framework/nn/linear.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/device_backend.h"
#include "framework/tensor/random.h"

namespace torus {
namespace {

class TwoLayer : public Module {
 public:
  explicit TwoLayer(Generator& gen)
      : first(register_module("first", std::make_shared<nn::Linear>(3, 4, gen))),
        second(register_module("second", std::make_shared<nn::Linear>(4, 2, gen, false))) {
    register_buffer("steps", Tensor::zeros({}, DType::i64));
  }
  std::shared_ptr<nn::Linear> first, second;
};

TEST(Module, StateDictHasDottedPyTorchNamesAndLayouts) {
  Generator gen(0);
  TwoLayer m(gen);
  std::vector<std::string> names;
  for (auto& [name, t] : m.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"steps", "first.weight", "first.bias", "second.weight"}));
  EXPECT_EQ(m.first->weight().shape(), (Shape{4, 3}));  // (out, in) as torch.nn.Linear
  EXPECT_EQ(m.parameter_count(), 4 * 3 + 4 + 2 * 4);
  for (auto& t : m.parameters()) EXPECT_TRUE(t.requires_grad());
}

// Where no device can be used, to(cuda) fails naming it and leaves every parameter as it
// was (the copies are made before any is swapped in); to(cpu) of a cpu module changes nothing.
TEST(Module, ToAnUnusableDeviceFailsAndMovesNothing) {
  if (device_backend::why_unavailable(Device::cuda(0)).empty()) GTEST_SKIP() << "cuda:0 is usable here";
  Generator gen(1);
  nn::Linear layer(3, 2, gen);
  const std::vector<float> before = layer.named_parameters()[0].second.to_vector<float>();
  layer.to(Device::cpu());
  try {
    layer.to(Device::cuda(0));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
  for (const auto& [name, p] : layer.named_parameters()) EXPECT_TRUE(p.device().is_cpu()) << name;
  EXPECT_EQ(layer.named_parameters()[0].second.to_vector<float>(), before);
}

TEST(Module, LinearInitIsSeededAndBoundedAsPyTorch) {
  Generator a(5), b(5);
  nn::Linear l1(100, 10, a), l2(100, 10, b);
  EXPECT_EQ(l1.weight().to_vector<float>(), l2.weight().to_vector<float>());
  for (float v : l1.weight().to_vector<float>()) EXPECT_LE(std::abs(v), 0.1f);
}

TEST(Module, LoadStateDictCopiesValuesAndRejectsMismatches) {
  Generator gen(1);
  TwoLayer source(gen), target(gen);
  target.load_state_dict(source.state_dict());
  EXPECT_EQ(target.first->weight().to_vector<float>(), source.first->weight().to_vector<float>());

  NamedTensors missing = source.state_dict();
  missing.pop_back();
  EXPECT_THROW(target.load_state_dict(missing), ValueError);
  EXPECT_NO_THROW(target.load_state_dict(missing, /*strict=*/false));

  NamedTensors wrong = source.state_dict();
  wrong[1].second = Tensor::zeros({3, 4});
  try {
    target.load_state_dict(wrong);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("first.weight"), std::string::npos) << e.what();
  }
}

TEST(Module, DuplicateNamesAreRejected) {
  struct Bad : Module {
    Bad() {
      register_parameter("w", Tensor::zeros({1}));
      register_parameter("w", Tensor::zeros({1}));
    }
  };
  EXPECT_THROW(Bad(), ValueError);
}

// Two steps of SGD with momentum, Nesterov and weight decay against the closed form.
TEST(Sgd, MatchesTheUpdateRuleOfTorchOptimSgd) {
  Tensor p = Tensor::from_vector({1.0, -2.0}, {2}, DType::f64);
  p.set_requires_grad(true);
  optim::Sgd sgd({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  std::vector<double> expected = {1.0, -2.0}, buf(2, 0.0);
  for (int step = 0; step < 2; ++step) {
    sgd.zero_grad();
    sum(mul(p, p)).backward();  // grad = 2p
    for (int i = 0; i < 2; ++i) {
      const double d = 2 * expected[i] + 0.01 * expected[i];
      buf[i] = step == 0 ? d : 0.9 * buf[i] + d;
      expected[i] -= 0.1 * (d + 0.9 * buf[i]);
    }
    sgd.step();
    EXPECT_NEAR(p.to_vector<double>()[0], expected[0], 1e-12);
    EXPECT_NEAR(p.to_vector<double>()[1], expected[1], 1e-12);
  }
}

class Idx : public ::testing::Test {
 protected:
  std::string path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()))).string();
  }
  void write_gz(const std::string& file, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(file.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    gzclose(f);
    files_.push_back(file);
  }
  void TearDown() override {
    for (auto& f : files_) std::remove(f.c_str());
  }
  std::vector<std::string> files_;
};

TEST_F(Idx, ReadsAGzipFileIntoItsShape) {
  const std::string file = path("idx_ok");
  write_gz(file, {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6});
  Tensor t = data::read_idx(file);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), DType::u8);
  EXPECT_EQ(t.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(Idx, TruncatedBadMagicAndTrailingDataAreErrors) {
  const std::string truncated = path("idx_truncated"), magic = path("idx_magic"), extra = path("idx_extra");
  write_gz(truncated, {0, 0, 8, 1, 0, 0, 0, 5, 1, 2});
  write_gz(magic, {1, 2, 8, 1, 0, 0, 0, 1, 7});
  write_gz(extra, {0, 0, 8, 1, 0, 0, 0, 1, 7, 8});
  EXPECT_THROW(data::read_idx(truncated), IOError);
  EXPECT_THROW(data::read_idx(magic), IOError);
  EXPECT_THROW(data::read_idx(extra), IOError);
  EXPECT_THROW(data::read_idx(path("idx_missing")), IOError);
}

TEST(FashionMnist, TheDebianPackageReadsWithTheExpectedShapes) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  Tensor labels = data::read_idx(dir + "t10k-labels-idx1-ubyte.gz");
  Tensor images = data::read_idx(dir + "t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(labels.shape(), (Shape{10000}));
  EXPECT_EQ(images.shape(), (Shape{10000, 28, 28}));
  // Ten balanced classes: 1000 test images each.
  std::vector<int> counts(10, 0);
  for (uint8_t l : labels.to_vector<uint8_t>()) ++counts.at(l);
  for (int c : counts) EXPECT_EQ(c, 1000);
}

}  // namespace
}  // namespace torus
