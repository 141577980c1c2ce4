// Not yet implemented: the ops of this family throw NotImplementedError.
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"

namespace torus {

void register_linalg_samples(std::vector<OpSample>&) {}

}  // namespace torus
