// Philox4x32-10 (kernels/common/philox.h: the function the cpu's Generator and dropout.cu
// on the GPU run) against the published Random123 known-answer vectors (kat_vectors,
// philox4x32 10 rounds), on the host. Also pins the (seed, block) mapping: Generator::philox
// is philox_block.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "framework/tensor/random.h"
#include "kernels/common/philox.h"

namespace torus {
namespace {

void expect_words(const PhiloxWords& got, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
  EXPECT_EQ(got.w[0], w0);
  EXPECT_EQ(got.w[1], w1);
  EXPECT_EQ(got.w[2], w2);
  EXPECT_EQ(got.w[3], w3);
}

TEST(PhiloxTest, KnownAnswerZeros) {
  expect_words(philox4x32_10(PhiloxWords{{0, 0, 0, 0}}, 0, 0), 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
}

TEST(PhiloxTest, KnownAnswerAllOnes) {
  const uint32_t f = 0xffffffffu;
  expect_words(philox4x32_10(PhiloxWords{{f, f, f, f}}, f, f), 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
}

TEST(PhiloxTest, KnownAnswerPiDigits) {
  expect_words(philox4x32_10(PhiloxWords{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                             0x299f31d0u),
               0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

// philox_block puts the seed in the key and the block in the counter's low words.
TEST(PhiloxTest, BlockMapping) {
  const uint64_t seed = 0x299f31d0a4093822ull, block = 0x85a308d3243f6a88ull;
  const PhiloxWords direct = philox4x32_10(PhiloxWords{{0x243f6a88u, 0x85a308d3u, 0, 0}}, 0xa4093822u, 0x299f31d0u);
  const PhiloxWords mapped = philox_block(seed, block);
  const std::array<uint32_t, 4> cpu = Generator::philox(seed, block);
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(mapped.w[j], direct.w[j]);
    EXPECT_EQ(cpu[static_cast<size_t>(j)], direct.w[j]);
  }
  expect_words(philox_block(0, 0), 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
}

TEST(PhiloxTest, UnitFloatRange) {
  EXPECT_EQ(philox_unit_float(0), 0.0f);
  EXPECT_EQ(philox_unit_float(0xffffffffu), 1.0f - 0x1p-24f);
  EXPECT_EQ(philox_unit_float(0x80000000u), 0.5f);
}

}  // namespace
}  // namespace torus
