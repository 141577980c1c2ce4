// Elementwise activations as modules (no parameters), for Sequential and the model zoo.
#pragma once

#include <memory>
#include <string_view>

#include "framework/nn/module.h"
#include "framework/ops/ops.h"

namespace torus::nn {

class ReLU : public Layer {
 public:
  Tensor forward(const Tensor& x) const override { return relu(x); }
};

// GELU, exact (erf) by default or with the tanh approximation, as torch.nn.GELU.
class GELU : public Layer {
 public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::none) : approximate_(approximate) {}
  Tensor forward(const Tensor& x) const override { return gelu(x, approximate_); }
  GeluApproximation approximate() const { return approximate_; }

 private:
  GeluApproximation approximate_;
};

class Tanh : public Layer {
 public:
  Tensor forward(const Tensor& x) const override { return tanh(x); }
};

// The activations a model builder can be asked for.
enum class Activation { relu, gelu, gelu_tanh, tanh };

std::shared_ptr<Layer> make_activation(Activation activation);
// "relu", "gelu", "gelu_tanh", "tanh" (the config spelling); throws naming the choices.
Activation parse_activation(std::string_view name);
std::string_view activation_name(Activation activation);

}  // namespace torus::nn
