// A seeded, counter-based random generator (Philox4x32-10). The stream depends only on
// the seed and how many numbers were drawn, never on threads, so runs reproduce; the
// same algorithm runs on GPUs, where each thread jumps to its own counter.
#pragma once

#include <array>
#include <cstdint>

#include "framework/tensor/tensor.h"

namespace torus {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  void manual_seed(uint64_t seed) {
    seed_ = seed;
    counter_ = 0;
  }
  uint64_t seed() const { return seed_; }
  // Position in the stream, in blocks of 4 draws; saved and restored by checkpoints.
  uint64_t offset() const { return counter_; }
  void set_offset(uint64_t offset) { counter_ = offset; }

  // Four independent 32-bit words for the counter `counter`.
  static std::array<uint32_t, 4> philox(uint64_t seed, uint64_t counter);

  // Reserves `blocks` blocks of 4 words and returns the first counter; kernels then draw
  // philox(seed(), first + i) for i < blocks in any order, on any thread.
  uint64_t reserve(uint64_t blocks) {
    uint64_t first = counter_;
    counter_ += blocks;
    return first;
  }

  // Uniform in [0, 1) from 24 bits (float) or 53 bits (double) of a word pair.
  static float to_unit_float(uint32_t word) { return static_cast<float>(word >> 8) * 0x1p-24f; }
  static double to_unit_double(uint32_t hi, uint32_t lo) {
    return static_cast<double>(((uint64_t{hi} << 32) | lo) >> 11) * 0x1p-53;
  }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

// A uniformly random permutation of 0..n-1 (i64), Fisher-Yates over the generator's stream.
Tensor randperm(int64_t n, Generator& gen);

}  // namespace torus
