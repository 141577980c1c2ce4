// GPU: dropout (kernels/cuda/dropout.h) against the host Philox reference (philox.h, the
// same function) and the CPU rule: the mask, y, the regenerated mask of the backward,
// and that (seed, offset) alone decide the mask (aligned and unaligned launches agree).
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/dropout.h"
#include "kernels/common/philox.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceArray;
using testing::DeviceBuffer;
using testing::random_vector;

// The CPU dropout's keep rule (framework/ops/dropout.cpp) for element i.
bool reference_keep(uint64_t seed, uint64_t offset, int64_t i, double p) {
  const PhiloxWords words = philox_block(seed, offset + static_cast<uint64_t>(i / 4));
  return philox_unit_float(words.w[i % 4]) >= p;
}

class DropoutTest : public CudaTest {
 protected:
  void check(int64_t n, double p, uint64_t seed, uint64_t offset, size_t misalign) {
    const std::vector<float> x = random_vector(static_cast<size_t>(n), 31);
    const std::vector<float> g = random_vector(x.size(), 32);
    DeviceBuffer dx(x, misalign), dy(x.size(), misalign), dg(g, misalign), dgx(x.size(), misalign);
    DeviceArray<uint8_t> mask(x.size());
    dropout_forward(dx.get(), dy.get(), mask.get(), n, p, seed, offset, stream_);
    dropout_backward(dg.get(), dgx.get(), n, p, seed, offset, stream_);
    sync();
    const std::vector<float> y = dy.download(), gx = dgx.download();
    const std::vector<uint8_t> m = mask.download();
    const float scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
    int64_t kept = 0, misses = 0;
    for (int64_t i = 0; i < n; ++i) {
      const size_t k = static_cast<size_t>(i);
      const bool keep = reference_keep(seed, offset, i, p);
      kept += keep;
      const float want_y = x[k] * (static_cast<float>(keep) * scale);
      const float want_gx = g[k] * (static_cast<float>(keep) * scale);
      if (m[k] != (keep ? 1 : 0) || y[k] != want_y || gx[k] != want_gx) {
        if (misses < 5)
          ADD_FAILURE() << "n " << n << " p " << p << " element " << i << ": mask " << int{m[k]} << " want " << keep
                        << ", y " << y[k] << " want " << want_y << ", dx " << gx[k] << " want " << want_gx;
        ++misses;
      }
    }
    EXPECT_EQ(misses, 0);
    if (n >= 100000 && p > 0.0 && p < 1.0) {
      const double rate = static_cast<double>(kept) / static_cast<double>(n);
      EXPECT_NEAR(rate, 1.0 - p, 0.01) << "keep rate";
    }
  }
};

TEST_F(DropoutTest, MatchesHostPhilox) {
  for (int64_t n : {1, 3, 4, 5, 1023, 4097, 1000003}) check(n, 0.3, 2024, 0, 0);
  check(777, 0.5, 0xdeadbeefcafeull, 12345, 0);
}

// Unaligned buffers take the scalar path: the same (seed, offset) draws the same mask.
TEST_F(DropoutTest, UnalignedSameMask) {
  check(4099, 0.25, 7, 3, 1);
  check(1000003, 0.1, 7, 1ull << 33, 3);
}

TEST_F(DropoutTest, EdgeProbabilities) {
  check(1001, 0.0, 1, 0, 0);
  check(1001, 1.0, 1, 0, 0);  // everything dropped: y = x * 0
}

// A different offset continues the stream: the mask of n elements at offset n / 4 is the
// tail of the mask of 2n elements at offset 0.
TEST_F(DropoutTest, OffsetContinuesTheStream) {
  const int64_t n = 4096;
  DeviceBuffer x(random_vector(2 * n, 5)), y(2 * n), y_tail(n);
  DeviceArray<uint8_t> whole(2 * n), tail(n);
  dropout_forward(x.get(), y.get(), whole.get(), 2 * n, 0.5, 99, 0, stream_);
  dropout_forward(x.get(), y_tail.get(), tail.get(), n, 0.5, 99, n / 4, stream_);
  sync();
  const std::vector<uint8_t> a = whole.download(), b = tail.download();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(a[static_cast<size_t>(n + i)], b[static_cast<size_t>(i)]) << i;
}

TEST_F(DropoutTest, RejectsBadProbability) {
  DeviceBuffer x(4);
  EXPECT_THROW(dropout_forward(x.get(), x.get(), nullptr, 4, 1.5, 0, 0, stream_), std::exception);
}

}  // namespace
}  // namespace torus::cuda
