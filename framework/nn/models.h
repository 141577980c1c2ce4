// The model zoo: MLP, CNN and GPT built from plain option structs (the config layer maps
// its fields onto these). Each builder returns a Layer whose state_dict names and layouts
// are those of the PyTorch module of the same name in examples/torch_reference/models.py.
// The defaults of each struct are the W1, W3 and W2 workloads of BENCHMARKS.md.
#pragma once

#include <memory>
#include <vector>

#include "framework/nn/activation.h"
#include "framework/nn/gpt.h"
#include "framework/tensor/random.h"

namespace torus::nn {

// Linear(in, h0), act, Linear(h0, h1), act, ..., Linear(h_last, classes), as
// torch.nn.Sequential: children "0", "2", ... are the Linear layers. Input (N, in), or
// (N, *) whose trailing dims multiply to `in` (images are flattened).
struct MlpOptions {
  int64_t in = 784;
  std::vector<int64_t> hidden{1024, 1024};
  int64_t classes = 10;
  Activation activation = Activation::relu;
  DType dtype = DType::f32;
};

enum class PoolKind { none, max, avg };

// One conv stage: Conv2d(channels, kernel, stride, padding) -> activation -> pool.
struct ConvStage {
  int64_t channels = 32;
  int64_t kernel = 3;
  int64_t stride = 1;
  int64_t padding = 0;
  PoolKind pool = PoolKind::max;
  int64_t pool_kernel = 2;  // stride equal to the kernel
};

// Conv stages, Flatten, then Linear(flat, hidden[0]), ..., Linear(., classes), one
// torch.nn.Sequential. fc_relu puts `activation` between the linear layers too (W3 has
// none: its option is the peer script's --fc-relu). Input (N, in_channels, height, width).
struct CnnOptions {
  int64_t in_channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  std::vector<ConvStage> stages{{32, 3, 1, 0, PoolKind::max, 2}, {64, 3, 1, 0, PoolKind::max, 2}};
  std::vector<int64_t> hidden{128};
  int64_t classes = 10;
  bool fc_relu = false;
  Activation activation = Activation::relu;
  DType dtype = DType::f32;
};

// Bad options are ValueErrors naming the builder and the field.
std::shared_ptr<Layer> make_mlp(const MlpOptions& options, Generator& gen);
std::shared_ptr<Layer> make_cnn(const CnnOptions& options, Generator& gen);
// Input (B, T) token indices, output (B, T, vocab) logits. See Gpt for dropout_gen.
std::shared_ptr<Layer> make_gpt(const GptOptions& options, Generator& gen,
                                std::shared_ptr<Generator> dropout_gen = nullptr);

}  // namespace torus::nn
