// Sequential: layers applied in order, named "0", "1", ... as torch.nn.Sequential, so the
// state_dict keys ("0.weight", "3.bias") match it.
#pragma once

#include <memory>
#include <vector>

#include "framework/nn/module.h"

namespace torus::nn {

class Sequential : public Layer {
 public:
  Sequential() = default;
  explicit Sequential(const std::vector<std::shared_ptr<Layer>>& layers);

  // Appends a layer under the next index; returns it.
  template <class L>
  std::shared_ptr<L> push_back(std::shared_ptr<L> layer) {
    push_back_layer(layer);
    return layer;
  }

  // Errors from a layer are rethrown prefixed with its index, so a shape mismatch deep in
  // a model names where it happened.
  Tensor forward(const Tensor& x) const override;

  size_t size() const { return layers_.size(); }
  const std::shared_ptr<Layer>& operator[](size_t i) const { return layers_.at(i); }

 private:
  void push_back_layer(std::shared_ptr<Layer> layer);

  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace torus::nn
