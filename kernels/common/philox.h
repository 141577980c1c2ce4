// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// one __host__ __device__ definition of the project's random stream: the CUDA kernels
// (dropout.cu, attention) and the cpu's torus::Generator (framework/tensor/random.cpp) run
// it, so the CPU known-answer test (tests/philox_test.cpp, no GPU needed) checks the very
// function the GPU runs. No CUDA header: it compiles in plain C++ too.
//
// philox_block(seed, block) is Generator::philox: key = (seed lo, seed hi), counter =
// (block lo, block hi, 0, 0). Element i of a stream drawn at counter `offset` uses word i % 4 of block
// offset + i / 4, so any thread can regenerate any element: the draw depends on
// (seed, offset, i) only, never on the launch configuration.
#pragma once

#include <cstdint>

#include "kernels/common/half.h"  // TORUS_HOST_DEVICE

namespace torus {

struct PhiloxWords {
  uint32_t w[4];
};

// The ten rounds of Philox4x32 with the Weyl key schedule; counter and key as in
// Random123's philox4x32_R(10, ctr, key).
TORUS_HOST_DEVICE inline PhiloxWords philox4x32_10(PhiloxWords counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = counter.w[0], c1 = counter.w[1], c2 = counter.w[2], c3 = counter.w[3];
  for (int round = 0; round < 10; ++round) {
    // 32x32 -> 64-bit products; nvcc turns these into mul.lo / mul.hi.
    const uint64_t p0 = uint64_t{kMul0} * c0, p1 = uint64_t{kMul1} * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ key0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ key1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return PhiloxWords{{c0, c1, c2, c3}};
}

// Block `block` of the stream of `seed` (torus::Generator::philox's mapping).
TORUS_HOST_DEVICE inline PhiloxWords philox_block(uint64_t seed, uint64_t block) {
  const PhiloxWords counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in [0, 1) from a word's top 24 bits, as Generator::to_unit_float.
TORUS_HOST_DEVICE inline float philox_unit_float(uint32_t word) {
  return static_cast<float>(word >> 8) * 0x1p-24f;
}

}  // namespace torus
