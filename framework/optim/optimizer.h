// Optimizer base: holds the parameters it updates and their per-parameter state; step()
// applies one update from their .grad, zero_grad() clears them.
//
// step() may be given a gradient scale: a 0-dim tensor on the parameters' device that
// every gradient is multiplied by as the update reads it, the gradients themselves left as
// they are. Gradient clipping passes its coefficient so (clip_grad.h), which on a device
// neither reads the norm back nor makes a pass of its own over the gradients.
//
// State is what a checkpoint saves: named_state() lists, per parameter that has state,
// its fields as "<parameter name>.<field>" ("fc1.weight.exp_avg"), and load_state() takes
// them back. Parameters are named by the NamedTensors they came from (the model's
// named_parameters()), or "0", "1", ... when given as a plain list.
#pragma once

#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace torus::optim {

// Names a plain parameter list "0", "1", ... (as torch.optim numbers its state).
NamedTensors number_parameters(const std::vector<Tensor>& parameters);

class Optimizer {
 public:
  explicit Optimizer(const NamedTensors& parameters);
  explicit Optimizer(const std::vector<Tensor>& parameters);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (those without are skipped, as
  // PyTorch does), from gradient_scale × gradient when a scale is given. Allocates its
  // state on a parameter's first update only.
  void step(const Tensor& gradient_scale = Tensor());
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& parameters() const { return parameters_; }
  const std::vector<std::string>& parameter_names() const { return names_; }
  // Completed step() calls (restored by load_state).
  int64_t step_count() const { return step_count_; }

  // The optimizer's own tensors (not copies: save them before the next step()).
  NamedTensors named_state() const;
  // Copies `state` (as named_state() wrote it) into this optimizer. Every key must name a
  // parameter and a field of this optimizer with the expected shape, and a parameter's
  // fields come all together; parameters without keys start fresh. Errors name the key.
  void load_state(const NamedTensors& state, int64_t step_count);

  // The fields each parameter's state holds, in order ("momentum_buffer"; "exp_avg", ...).
  const std::vector<std::string>& state_fields() const { return fields_; }

 protected:
  // Subclasses declare their fields once, in their constructor.
  void set_state_fields(std::vector<std::string> fields) { fields_ = std::move(fields); }
  // The update of step(); gradient_scale is undefined or checked by step().
  virtual void update(const Tensor& gradient_scale) = 0;
  // A gradient scale as a number for the cpu's loops: 1 when undefined or on a device
  // (where the update reads it in place, never back).
  static double host_value(const Tensor& gradient_scale);
  // A fresh (zeroed) value of `field` for parameter `param`.
  virtual Tensor initial_state(size_t field, const Tensor& param) const = 0;
  // The state of parameter i, created zeroed on first use.
  std::vector<Tensor>& state(size_t i);
  bool has_state(size_t i) const { return !state_[i].empty(); }
  // The gradient of parameter i, checked to be updatable in place by a fused loop
  // (contiguous, the parameter's shape and dtype); undefined when it has none.
  Tensor checked_grad(size_t i, std::string_view optimizer) const;

  double lr_ = 0.0;

 private:
  std::vector<Tensor> parameters_;
  std::vector<std::string> names_;
  std::vector<std::string> fields_;
  std::vector<std::vector<Tensor>> state_;  // [parameter][field], empty until first update
  int64_t step_count_ = 0;
};

}  // namespace torus::optim
