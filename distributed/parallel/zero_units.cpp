// ZeRO stage 3's units (see zero_units.h).
#include "distributed/parallel/zero_units.h"

#include <memory>
#include <set>

#include "framework/nn/sequential.h"

namespace torus::parallel {
namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Adds `module`'s own parameters to units[unit] and walks its children; a child of a
// Sequential that has parameters starts a unit of its own.
void walk(Module& module, const std::string& path, size_t unit, std::vector<ZeroUnit>& units) {
  for (const auto& [name, tensor] : module.named_parameters())
    if (name.find('.') == std::string::npos) units[unit].parameters.emplace_back(join(path, name), tensor);
  const bool sequential = dynamic_cast<nn::Sequential*>(&module) != nullptr;
  for (const auto& [name, child] : module.named_children()) {
    auto* layer = dynamic_cast<Layer*>(child.get());
    size_t child_unit = unit;
    if (sequential && layer != nullptr && child->parameter_count() > 0) {
      units.push_back({layer, join(path, name), {}});
      child_unit = units.size() - 1;
    }
    walk(*child, join(path, name), child_unit, units);
  }
}

}  // namespace

std::vector<ZeroUnit> find_zero_units(Layer& model) {
  std::vector<ZeroUnit> units{{&model, "", {}}};
  walk(model, "", 0, units);
  std::set<const TensorImpl*> seen;
  for (const ZeroUnit& unit : units)
    for (const auto& [name, tensor] : unit.parameters)
      TORUS_CHECK(seen.insert(&tensor.impl()).second,
                  "ZeRO stage 3: parameter '{}' is registered twice; a shared parameter must be registered once, in "
                  "the module that encloses every use",
                  name);
  std::vector<ZeroUnit> kept;
  for (ZeroUnit& unit : units)
    if (!unit.parameters.empty()) kept.push_back(std::move(unit));
  return kept;
}

}  // namespace torus::parallel
