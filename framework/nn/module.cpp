// Module registration, traversal and state_dict loading.
#include "framework/nn/module.h"

#include <map>
#include <set>

#include "framework/autograd/grad_mode.h"

namespace torus {

void Module::check_new_name(const std::string& name) const {
  TORUS_CHECK(!name.empty() && name.find('.') == std::string::npos,
              "module: invalid name '{}' (non-empty, no dots)", name);
  auto taken = [&name](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  TORUS_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
              "module: name '{}' is already registered", name);
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  TORUS_CHECK(value.defined(), "register_parameter: '{}' is undefined", name);
  value = value.detach();
  value.set_requires_grad(true);
  value.set_name(name);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::collect(const std::string& prefix, bool parameters, bool buffers,
                     NamedTensors& out) const {
  if (parameters)
    for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
  if (buffers)
    for (const auto& [name, t] : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, Tensor> given;
  for (const auto& [name, t] : state)
    TORUS_CHECK(given.emplace(name, t).second, "load_state_dict: key '{}' appears twice", name);
  std::vector<std::string> missing;
  std::set<std::string> used;
  NoGradGuard no_grad;
  for (const auto& [name, target] : state_dict()) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    TORUS_CHECK(it->second.shape() == target.shape(),
                "load_state_dict: '{}' has shape {} in the checkpoint but {} in the model", name,
                it->second.shape_str(), target.shape_str());
    target.copy_(it->second);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, _] : given)
    if (!used.count(name)) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty()))
    throw ValueError(fmt::format("load_state_dict: missing keys [{}]; unexpected keys [{}]",
                                 fmt::join(missing, ", "), fmt::join(unexpected, ", ")));
}

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, const Module*>>& out) const {
  out.emplace_back(prefix, this);
  for (const auto& [name, child] : children_)
    child->collect_modules(prefix.empty() ? name : prefix + "." + name, out);
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  collect_modules("", out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

void Module::to(Device device) {
  // Every copy first, then the swap: a failure (no device, out of memory) leaves the
  // module as it was, not half moved.
  std::vector<std::pair<Tensor, Tensor>> moves;  // (the module's tensor, its copy)
  for (auto& [name, t] : state_dict()) {
    if (t.device() == device) continue;
    bool seen = false;  // a tied tensor appears once per owner
    for (const auto& [earlier, _] : moves) seen = seen || earlier.impl_ptr() == t.impl_ptr();
    if (seen) continue;
    TORUS_CHECK(t.is_leaf(), "Module::to: '{}' is computed by an op, not a leaf", name);
    moves.emplace_back(t, t.detach().to(device));  // contiguous on the device
  }
  for (auto& [t, moved] : moves) {
    TensorImpl& impl = t.impl();
    impl.storage = moved.storage();
    impl.strides = moved.strides();
    impl.offset = 0;
    impl.grad.reset();
  }
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& t : parameters()) n += t.numel();
  return n;
}

void Layer::set_forward_hooks(std::shared_ptr<const ForwardHooks> hooks) {
  TORUS_CHECK(hooks == nullptr || hooks_ == nullptr, "set_forward_hooks: this layer has hooks already");
  TORUS_CHECK(hooks == nullptr || (hooks->before && hooks->after), "set_forward_hooks: both hooks are needed");
  hooks_ = std::move(hooks);
}

}  // namespace torus
