// Gathers every family's samples (the list is ops/op_families.def).
#include "framework/ops/op_info.h"

#include <set>

#include "kernels/common/error.h"

namespace torus {

#define TORUS_OP_FAMILY(family) void register_##family##_samples(std::vector<OpSample>& samples);
#include "framework/ops/op_families.def"
#undef TORUS_OP_FAMILY

const std::vector<OpSample>& op_samples() {
  static const std::vector<OpSample> samples = [] {
    std::vector<OpSample> all;
#define TORUS_OP_FAMILY(family) register_##family##_samples(all);
#include "framework/ops/op_families.def"
#undef TORUS_OP_FAMILY
    std::set<std::string> names;
    for (const OpSample& s : all)
      TORUS_ASSERT(names.insert(s.name).second, "duplicate op sample name {}", s.name);
    return all;
  }();
  return samples;
}

}  // namespace torus
