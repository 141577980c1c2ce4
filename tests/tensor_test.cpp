// Tensor basics: factories, views and their strides, copies, dtype conversion, the
// generator's reproducibility and the caching allocator.
#include <gtest/gtest.h>

#include <limits>

#include <cmath>

#include "framework/ops/ops.h"
#include "framework/tensor/allocator.h"
#include "framework/tensor/device_backend.h"
#include "framework/tensor/random.h"

namespace torus {
namespace {

TEST(Tensor, FactoriesFillShapeAndValues) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.numel(), 6);
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  Tensor f = Tensor::full({4}, 2.5, DType::f64);
  for (double v : f.to_vector<double>()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(Tensor::arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_EQ(Tensor::scalar(3.0).item(), 3.0);
}

TEST(Tensor, NegativeShapeIsAnError) {
  EXPECT_THROW(Tensor::zeros({2, -1}), ValueError);
}

TEST(Tensor, TransposeIsAViewWithSwappedStrides) {
  Tensor a = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = a.transpose(0, 1);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 3}));
  EXPECT_EQ(t.storage(), a.storage());
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), a.storage());
}

// Large enough for the tiled transpose path of the copy kernel (edges not multiples of 32).
TEST(Tensor, ContiguousOfTransposedAndPermutedViewsIsExact) {
  Tensor a = Tensor::arange(37 * 53, DType::f32).reshape({37, 53});
  std::vector<float> t = a.t().contiguous().to_vector<float>();
  for (int64_t i = 0; i < 53; ++i)
    for (int64_t j = 0; j < 37; ++j) ASSERT_EQ(t[i * 37 + j], static_cast<float>(j * 53 + i));
  Tensor b = Tensor::arange(3 * 19 * 40, DType::f64).reshape({3, 19, 40});
  std::vector<double> p = b.permute({0, 2, 1}).contiguous().to_vector<double>();
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t i = 0; i < 40; ++i)
      for (int64_t j = 0; j < 19; ++j)
        ASSERT_EQ(p[(n * 40 + i) * 19 + j], static_cast<double>((n * 19 + j) * 40 + i));
  // With a dtype conversion on the way.
  std::vector<int32_t> c = a.t().to(DType::i32).to_vector<int32_t>();
  EXPECT_EQ(c[1], 53);
}

TEST(Tensor, ViewsShareStorageAndSeeWrites) {
  Tensor a = Tensor::zeros({4, 3});
  Tensor row = a.narrow(0, 2, 1);
  row.fill_(7.0);
  std::vector<float> v = a.to_vector<float>();
  for (int i = 0; i < 12; ++i) EXPECT_EQ(v[i], i >= 6 && i < 9 ? 7.0f : 0.0f) << i;
  Tensor col = a.select(1, 1);
  EXPECT_EQ(col.shape(), (Shape{4}));
  EXPECT_EQ(col.strides(), (Shape{3}));
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{0, 0, 7, 0}));
}

TEST(Tensor, ViewRefusesIncompatibleStridesButReshapeCopies) {
  Tensor a = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3}).t();
  EXPECT_THROW(a.view({6}), ValueError);
  EXPECT_EQ(a.reshape({6}).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(Tensor::zeros({2, 3, 4}).view({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_THROW(Tensor::zeros({2, 3}).view({4, -1}), ValueError);
}

TEST(Tensor, ExpandBroadcastsWithZeroStrides) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3, 1});
  Tensor e = a.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(e.to_vector<float>()[5], 2.0f);
  EXPECT_THROW(a.expand({3, 2, 2}).numel(), ValueError);
}

TEST(Tensor, SqueezeUnsqueezePermute) {
  Tensor a = Tensor::zeros({2, 1, 3});
  EXPECT_EQ(a.squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_EQ(a.squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(a.unsqueeze(-1).shape(), (Shape{2, 1, 3, 1}));
  EXPECT_EQ(a.permute({2, 0, 1}).shape(), (Shape{3, 2, 1}));
  EXPECT_THROW(a.permute({0, 0, 1}), ValueError);
  EXPECT_THROW(a.transpose(0, 3), ValueError);
}

TEST(Tensor, DtypeConversionRoundTripsAndRounds) {
  Tensor a = Tensor::from_vector({1.5, -2.25, 1e-3, 65504, 3.14159265}, {5}, DType::f64);
  EXPECT_EQ(a.to(DType::f16).to(DType::f64).to_vector<double>()[3], 65504.0);
  EXPECT_EQ(a.to(DType::bf16).to(DType::f64).to_vector<double>()[0], 1.5);
  EXPECT_NEAR(a.to(DType::bf16).to(DType::f32).to_vector<float>()[4], 3.14159265, 0.02);
  EXPECT_NEAR(a.to(DType::f16).to(DType::f32).to_vector<float>()[2], 1e-3, 1e-6);
  EXPECT_EQ(a.to(DType::i32).to_vector<int32_t>()[1], -2);
  // Round to nearest even: 1 + 2^-8 is halfway between two bf16 values, ties to 1.
  EXPECT_EQ(Tensor::scalar(1.0 + std::ldexp(1.0, -8)).to(DType::bf16).item(), 1.0);
  EXPECT_EQ(Tensor::scalar(1e6).to(DType::f16).item(), INFINITY);
  EXPECT_TRUE(std::isnan(Tensor::scalar(NAN).to(DType::bf16).item()));
  // f16 subnormals: 2^-24 is the smallest.
  EXPECT_EQ(Tensor::scalar(std::ldexp(1.0, -24)).to(DType::f16).item(), std::ldexp(1.0, -24));
}

// Float to integer is defined for every value: truncation, NaN to 0, saturation at the
// int64 range, low bits for narrower types (as PyTorch on x86 for in-range values).
TEST(Tensor, FloatToIntegerConversionIsDefinedForEveryValue) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = Tensor::from_vector({-5.5, 300.7, 2.9, nan, 1e30, -1e30}, {6}, DType::f64);
  EXPECT_EQ(x.to(DType::u8).to_vector<double>(), (std::vector<double>{251, 44, 2, 0, 255, 0}));
  EXPECT_EQ(x.to(DType::i32).to_vector<double>(), (std::vector<double>{-5, 300, 2, 0, -1, 0}));
  EXPECT_EQ(x.to(DType::i64).to_vector<double>(),
            (std::vector<double>{-5, 300, 2, 0, 9223372036854775807.0, -9223372036854775808.0}));
  EXPECT_EQ(x.to(DType::bf16).to(DType::u8).to_vector<double>()[0], 251) << "through a half type too";
}

TEST(Tensor, EveryDtypeStoresAndConverts) {
  for (DType t : kAllDTypes) {
    Tensor a = Tensor::from_vector({0, 1, 2, 3}, {2, 2}, t);
    EXPECT_EQ(a.dtype(), t);
    EXPECT_EQ(a.nbytes(), 4 * dtype_size(t));
    EXPECT_EQ(a.t().contiguous().to(DType::f64).to_vector<double>(), (std::vector<double>{0, 2, 1, 3}))
        << dtype_name(t);
  }
}

TEST(Tensor, MathOnStorageOnlyDtypesSaysWhatToDo) {
  Tensor a = Tensor::ones({2}, DType::bf16);
  try {
    add(a, a);
    FAIL() << "expected an error";
  } catch (const NotImplementedError& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
}

// Without a usable device (no CUDA backend in this build, or no GPU on this machine) a
// cuda tensor is refused at allocation, naming the device and the reason.
TEST(Tensor, UnusableDeviceIsRefusedByName) {
  const std::string why = device_backend::why_unavailable(Device::cuda(0));
  if (why.empty()) GTEST_SKIP() << "cuda:0 is usable here: the refusal cannot be seen";
  try {
    Tensor::zeros({2, 3}, DType::f32, Device::cuda(0));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), why);
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(device_backend::why_unavailable(Device::cpu()).empty());
  // Out of range everywhere: no process sees 1000 devices.
  EXPECT_NE(device_backend::why_unavailable(Device::cuda(1000)).find("cuda:1000"), std::string::npos);
}

TEST(Generator, SameSeedSameStreamDifferentSeedDifferentStream) {
  Generator g1(42), g2(42), g3(43);
  auto a = Tensor::randn({1000}, g1).to_vector<float>();
  auto b = Tensor::randn({1000}, g2).to_vector<float>();
  auto c = Tensor::randn({1000}, g3).to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The stream advances: a second draw differs from the first.
  EXPECT_NE(Tensor::randn({1000}, g1).to_vector<float>(), a);
}

TEST(Generator, MomentsOfUniformAndNormal) {
  Generator gen(7);
  Tensor u = Tensor::rand({200000}, gen, DType::f64, -1.0, 3.0);
  Tensor n = Tensor::randn({200000}, gen, DType::f64, 2.0, 0.5);
  EXPECT_NEAR(mean(u).item(), 1.0, 0.02);
  EXPECT_NEAR(var(u).item(), 16.0 / 12.0, 0.02);
  EXPECT_NEAR(mean(n).item(), 2.0, 0.01);
  EXPECT_NEAR(var(n).item(), 0.25, 0.01);
  std::vector<double> values = u.to_vector<double>();
  for (double v : values) ASSERT_TRUE(v >= -1.0 && v < 3.0);
}

TEST(Generator, OffsetRestoresTheStream) {
  Generator gen(5);
  Tensor::rand({10}, gen);
  const uint64_t offset = gen.offset();
  auto first = Tensor::rand({10}, gen).to_vector<float>();
  gen.set_offset(offset);
  EXPECT_EQ(Tensor::rand({10}, gen).to_vector<float>(), first);
}

TEST(HostAllocator, ReusesFreedBlocksOfTheSameSize) {
  HostAllocator& allocator = HostAllocator::instance();
  { Tensor warm = Tensor::empty({1 << 20}); }
  const AllocatorStats before = allocator.stats();
  for (int step = 0; step < 10; ++step) Tensor t = Tensor::empty({1 << 20});
  const AllocatorStats after = allocator.stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  EXPECT_GE(after.cache_hits, before.cache_hits + 10);
  EXPECT_EQ(HostAllocator::round_size(5000) % 64, 0u);
  EXPECT_LE(HostAllocator::round_size(1000001), 1000001u * 9 / 8);
  EXPECT_GE(HostAllocator::round_size(1000001), 1000001u);
}

TEST(HostAllocator, BlocksAreAligned) {
  for (int64_t n : {1, 3, 17, 1000, 123457}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

}  // namespace
}  // namespace torus
