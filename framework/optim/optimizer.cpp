// Optimizer base: parameter checks, state bookkeeping and checkpoint state (see optimizer.h).
#include "framework/optim/optimizer.h"

#include <map>
#include <set>

#include "framework/autograd/grad_mode.h"
#include "framework/tensor/dtype.h"

namespace torus::optim {

Optimizer::Optimizer(const NamedTensors& parameters) {
  std::set<std::string> seen;
  for (const auto& [name, p] : parameters) {
    TORUS_CHECK(p.defined() && p.requires_grad() && p.is_leaf(),
                "optimizer: every parameter must be a leaf that requires grad ('{}' is not)", name);
    TORUS_CHECK(seen.insert(name).second, "optimizer: parameter name '{}' appears twice", name);
    TORUS_CHECK(p.is_contiguous(), "optimizer: parameter '{}' of shape {} is not contiguous", name,
                p.shape_str());
    for (const Tensor& q : parameters_)
      TORUS_CHECK(!q.same(p), "optimizer: parameter '{}' is given twice (tied weights belong once)", name);
    parameters_.push_back(p);
    names_.push_back(name);
  }
  state_.resize(parameters_.size());
}

NamedTensors number_parameters(const std::vector<Tensor>& parameters) {
  NamedTensors out;
  for (size_t i = 0; i < parameters.size(); ++i) out.emplace_back(std::to_string(i), parameters[i]);
  return out;
}

Optimizer::Optimizer(const std::vector<Tensor>& parameters) : Optimizer(number_parameters(parameters)) {}

void Optimizer::step(const Tensor& gradient_scale) {
  if (gradient_scale.defined()) {
    TORUS_CHECK(gradient_scale.dim() == 0 && is_floating(gradient_scale.dtype()),
                "optimizer: the gradient scale must be a 0-dim floating tensor, got {} {}",
                dtype_name(gradient_scale.dtype()), gradient_scale.shape_str());
    for (size_t i = 0; i < parameters_.size(); ++i)
      TORUS_CHECK(parameters_[i].device() == gradient_scale.device(),
                  "optimizer: the gradient scale is on {} but parameter '{}' is on {}", gradient_scale.device().str(),
                  names_[i], parameters_[i].device().str());
  }
  update(gradient_scale);
  ++step_count_;
}

double Optimizer::host_value(const Tensor& gradient_scale) {
  return gradient_scale.defined() && gradient_scale.device().is_cpu() ? gradient_scale.item() : 1.0;
}

void Optimizer::zero_grad() {
  for (const Tensor& p : parameters_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  TORUS_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got {}", lr);
  lr_ = lr;
}

std::vector<Tensor>& Optimizer::state(size_t i) {
  if (state_[i].empty())
    for (size_t f = 0; f < fields_.size(); ++f) state_[i].push_back(initial_state(f, parameters_[i]));
  return state_[i];
}

Tensor Optimizer::checked_grad(size_t i, std::string_view optimizer) const {
  const Tensor& p = parameters_[i];
  Tensor g = p.grad();
  if (!g.defined()) return g;
  TORUS_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.is_contiguous(),
              "{}: gradient of '{}' must be a contiguous {} {} like the parameter, got {} {}{}", optimizer,
              names_[i], dtype_name(p.dtype()), p.shape_str(), dtype_name(g.dtype()), g.shape_str(),
              g.is_contiguous() ? "" : " (strided)");
  return g;
}

NamedTensors Optimizer::named_state() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i)
    for (size_t f = 0; f < state_[i].size(); ++f) out.emplace_back(names_[i] + "." + fields_[f], state_[i][f]);
  return out;
}

void Optimizer::load_state(const NamedTensors& state, int64_t step_count) {
  TORUS_CHECK(step_count >= 0, "load_state: step count must be >= 0, got {}", step_count);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < names_.size(); ++i) index[names_[i]] = i;
  // [parameter][field] -> the given tensor; validated completely before anything is written.
  std::vector<std::vector<Tensor>> given(parameters_.size(), std::vector<Tensor>(fields_.size()));
  for (const auto& [key, value] : state) {
    const size_t dot = key.rfind('.');
    auto param = dot == std::string::npos ? index.end() : index.find(key.substr(0, dot));
    TORUS_CHECK(param != index.end(), "load_state: key '{}' names no parameter of this optimizer", key);
    const std::string field = key.substr(dot + 1);
    size_t f = 0;
    while (f < fields_.size() && fields_[f] != field) ++f;
    TORUS_CHECK(f < fields_.size(), "load_state: key '{}': unknown field '{}' (expected one of {})", key, field,
                fmt::join(fields_, ", "));
    const Tensor expected = initial_state(f, parameters_[param->second]);
    TORUS_CHECK(value.shape() == expected.shape() && value.dtype() == expected.dtype(),
                "load_state: '{}' is {} {} but this optimizer keeps {} {}", key, dtype_name(value.dtype()),
                value.shape_str(), dtype_name(expected.dtype()), expected.shape_str());
    TORUS_CHECK(!given[param->second][f].defined(), "load_state: key '{}' appears twice", key);
    given[param->second][f] = value;
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    size_t present = 0;
    for (const Tensor& t : given[i]) present += t.defined() ? 1 : 0;
    TORUS_CHECK(present == 0 || present == fields_.size(),
                "load_state: parameter '{}' has {} of its {} state fields ({})", names_[i], present,
                fields_.size(), fmt::join(fields_, ", "));
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    state_[i].clear();
    if (fields_.empty() || !given[i][0].defined()) continue;
    // Copies into tensors of our own: the source may view a mapped file.
    for (size_t f = 0; f < fields_.size(); ++f) {
      Tensor t = initial_state(f, parameters_[i]);
      t.copy_(given[i][f]);
      state_[i].push_back(t);
    }
  }
  step_count_ = step_count;
}

}  // namespace torus::optim
