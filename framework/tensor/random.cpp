// The cpu's Philox4x32-10 block: the shared definition (kernels/common/philox.h).
#include "framework/tensor/random.h"

#include "kernels/common/philox.h"

namespace torus {

std::array<uint32_t, 4> Generator::philox(uint64_t seed, uint64_t counter) {
  const PhiloxWords words = philox_block(seed, counter);
  return {words.w[0], words.w[1], words.w[2], words.w[3]};
}

}  // namespace torus
