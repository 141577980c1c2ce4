// Module: the base of every layer and model. Parameters, buffers and children are
// registered by name; their dotted paths ("layers.0.weight") are the state_dict and
// checkpoint keys, laid out as PyTorch's so checkpoints load into torch.nn as they are.
#pragma once

#include <functional>
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

  // Direct children in registration order, and every module below this one (depth first,
  // this module first, named by dotted path; "" is this module).
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  std::vector<std::pair<std::string, const Module*>> named_modules() const;

  // Sets training mode here and in every child (Dropout reads it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  int64_t parameter_count() const;
  // Moves every parameter and buffer to `device` in place: each tensor handle (the
  // layer's own members, optimizers made later) sees the new storage, as PyTorch's
  // module.to(). Gradients are dropped; parameters stay leaves that require grad. Make
  // optimizers after the move: their state is allocated on the parameters' device.
  void to(Device device);

 protected:
  // Registers a trainable tensor (marked requires_grad) under `name`; returns it.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a tensor saved in the state_dict but not trained (running statistics).
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    check_new_name(name);
    TORUS_CHECK(child != nullptr, "register_module: child '{}' is null", name);
    children_.emplace_back(name, child);
    return child;
  }

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, const Module*>>& out) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A module whose forward maps one tensor to one tensor: every layer of the model zoo, and
// what Sequential chains and the model builders return. forward is const: a module's
// state changes only through its parameters (optimizers) and train()/eval(); Dropout's
// generator is shared state held by pointer.
class Layer : public Module {
 public:
  // Run around every call through operator(): before(), then forward, then after(output),
  // whose result the caller gets. ZeRO stage 3 gathers a module's parameters before its
  // forward, frees them after, and marks the output so backward gathers them again.
  struct ForwardHooks {
    std::function<void()> before;
    std::function<Tensor(const Tensor& output)> after;
  };

  virtual Tensor forward(const Tensor& x) const = 0;
  // forward with the hooks around it: how parents call their children.
  Tensor operator()(const Tensor& x) const {
    if (!hooks_) return forward(x);
    hooks_->before();
    return hooks_->after(forward(x));
  }
  // One set per layer; null removes them.
  void set_forward_hooks(std::shared_ptr<const ForwardHooks> hooks);
  bool has_forward_hooks() const { return hooks_ != nullptr; }

 private:
  std::shared_ptr<const ForwardHooks> hooks_;
};

}  // namespace torus
