// Sequential (see sequential.h).
#include "framework/nn/sequential.h"

#include <string>

namespace torus::nn {

Sequential::Sequential(const std::vector<std::shared_ptr<Layer>>& layers) {
  for (const auto& layer : layers) push_back_layer(layer);
}

void Sequential::push_back_layer(std::shared_ptr<Layer> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) const {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    try {
      h = (*layers_[i])(h);
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("Sequential layer {}: {}", i, e.what()));
    }
  }
  return h;
}

}  // namespace torus::nn
