// Activation factory and names (see activation.h).
#include "framework/nn/activation.h"

#include <array>
#include <utility>

namespace torus::nn {
namespace {

constexpr std::array<std::pair<Activation, std::string_view>, 4> kNames{{
    {Activation::relu, "relu"},
    {Activation::gelu, "gelu"},
    {Activation::gelu_tanh, "gelu_tanh"},
    {Activation::tanh, "tanh"},
}};

}  // namespace

std::shared_ptr<Layer> make_activation(Activation activation) {
  switch (activation) {
    case Activation::relu: return std::make_shared<ReLU>();
    case Activation::gelu: return std::make_shared<GELU>(GeluApproximation::none);
    case Activation::gelu_tanh: return std::make_shared<GELU>(GeluApproximation::tanh);
    case Activation::tanh: return std::make_shared<Tanh>();
  }
  throw ValueError(fmt::format("make_activation: unknown activation {}", static_cast<int>(activation)));
}

Activation parse_activation(std::string_view name) {
  for (const auto& [activation, spelling] : kNames)
    if (spelling == name) return activation;
  throw ValueError(fmt::format("unknown activation '{}' (expected relu, gelu, gelu_tanh or tanh)", name));
}

std::string_view activation_name(Activation activation) {
  for (const auto& [a, spelling] : kNames)
    if (a == activation) return spelling;
  return "unknown";
}

}  // namespace torus::nn
