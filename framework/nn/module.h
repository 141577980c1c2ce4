// Module: the base of every layer and model. Parameters, buffers and children are
// registered by name; their dotted paths ("layers.0.weight") are the state_dict and
// checkpoint keys, laid out as PyTorch's so checkpoints load into torch.nn as they are.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus {

// Ordered (name, tensor) pairs, in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its children, with dotted names.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters then buffers of each module, depth first: the checkpoint contents.
  NamedTensors state_dict() const;
  // Copies values into the registered tensors (shapes and dtypes must match). With
  // strict, missing and unexpected keys are errors that list them.
  void load_state_dict(const NamedTensors& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  int64_t parameter_count() const;

 protected:
  // Registers a trainable tensor (marked requires_grad) under `name`; returns it.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a tensor saved in the state_dict but not trained (running statistics).
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    check_new_name(name);
    children_.emplace_back(name, child);
    return child;
  }

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace torus
