// GPU: fused cross-entropy (kernels/cuda/cross_entropy.h) against a CPU reference in double
// with the CPU backend's semantics: ignore_index, label smoothing, mean over counted rows,
// NaN when none count, invalid targets reported in status; forward and backward.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/cross_entropy.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceArray;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

constexpr int64_t kIgnore = -100;

std::vector<int64_t> random_targets(int64_t rows, int64_t classes, int every_ignored, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, classes - 1);
  std::vector<int64_t> t(static_cast<size_t>(rows));
  for (size_t i = 0; i < t.size(); ++i) t[i] = every_ignored > 0 && i % every_ignored == static_cast<size_t>(every_ignored - 1) ? kIgnore : dist(rng);
  return t;
}

class CrossEntropyTest : public CudaTest {
 protected:
  void check(int64_t rows, int64_t classes, float smoothing, int every_ignored, float scale = 3.0f) {
    std::vector<float> x = random_vector(static_cast<size_t>(rows * classes), 51);
    for (float& v : x) v *= scale;
    const std::vector<int64_t> t = random_targets(rows, classes, every_ignored, 52);
    const float upstream = 0.75f;
    DeviceBuffer dx(x), lse(static_cast<size_t>(rows)), row_loss(static_cast<size_t>(rows)), loss(1),
        grad_loss(std::vector<float>{upstream}), grad(x.size());
    DeviceArray<int64_t> target(t), status(2);
    cross_entropy_forward(dx.get(), target.get(), lse.get(), row_loss.get(), loss.get(), status.get(), rows, classes,
                          kIgnore, smoothing, stream_);
    cross_entropy_backward(dx.get(), target.get(), lse.get(), grad_loss.get(), status.get(), grad.get(), rows,
                           classes, kIgnore, smoothing, stream_);
    sync();

    std::vector<double> want_rows(static_cast<size_t>(rows)), want_grad(x.size(), 0.0);
    double total = 0;
    int64_t counted = 0;
    for (int64_t i = 0; i < rows; ++i) counted += t[static_cast<size_t>(i)] != kIgnore;
    const double s = counted > 0 ? upstream / static_cast<double>(counted) : 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t ti = t[static_cast<size_t>(i)];
      if (ti == kIgnore) continue;
      const float* xi = x.data() + i * classes;
      double max = -INFINITY, sum = 0, mean = 0;
      for (int64_t c = 0; c < classes; ++c) max = std::max(max, double{xi[c]});
      for (int64_t c = 0; c < classes; ++c) {
        sum += std::exp(xi[c] - max);
        mean += xi[c];
      }
      mean /= static_cast<double>(classes);
      const double l = max + std::log(sum);
      want_rows[static_cast<size_t>(i)] = (1.0 - smoothing) * (l - xi[ti]) + smoothing * (l - mean);
      total += want_rows[static_cast<size_t>(i)];
      for (int64_t c = 0; c < classes; ++c)
        want_grad[static_cast<size_t>(i * classes + c)] =
            s * (std::exp(xi[c] - l) - smoothing / static_cast<double>(classes) - (c == ti ? 1.0 - smoothing : 0.0));
    }
    const std::string what = "cross_entropy (" + std::to_string(rows) + ", " + std::to_string(classes) + ") eps " +
                             std::to_string(smoothing);
    expect_close(row_loss.download(), want_rows, 1e-4, 1e-4, what + " row loss");
    const std::vector<int64_t> st = status.download();
    EXPECT_EQ(st[0], counted) << what;
    EXPECT_EQ(st[1], -1) << what;
    const float got = loss.download()[0];
    if (counted == 0) {
      EXPECT_TRUE(std::isnan(got)) << what;
    } else {
      EXPECT_NEAR(got, total / static_cast<double>(counted), 1e-4 * (1 + std::abs(total / counted))) << what;
    }
    expect_close(grad.download(), want_grad, 1e-6, 1e-3, what + " backward");
  }
};

TEST_F(CrossEntropyTest, WarpPerRow) {
  check(1, 1, 0.0f, 0);
  check(64, 10, 0.0f, 3);
  check(333, 1024, 0.1f, 5);
}

TEST_F(CrossEntropyTest, BlockPerRow) {
  check(5, 1025, 0.0f, 2);
  check(3, 50257, 0.25f, 0);  // a GPT-2 vocabulary, longer than a block
}

TEST_F(CrossEntropyTest, AllIgnoredIsNan) { check(8, 20, 0.0f, 1); }

TEST_F(CrossEntropyTest, LargeLogitsStayFinite) { check(16, 3000, 0.1f, 4, 200.0f); }

TEST_F(CrossEntropyTest, InvalidTargetReported) {
  const int64_t rows = 600, classes = 7;
  std::vector<int64_t> t = random_targets(rows, classes, 0, 53);
  t[450] = classes;
  t[520] = -1;
  DeviceBuffer dx(random_vector(static_cast<size_t>(rows * classes), 54)), lse(rows), row_loss(rows), loss(1);
  DeviceArray<int64_t> target(t), status(2);
  cross_entropy_forward(dx.get(), target.get(), lse.get(), row_loss.get(), loss.get(), status.get(), rows, classes,
                        kIgnore, 0.0f, stream_);
  sync();
  EXPECT_EQ(status.download()[1], 450);
  EXPECT_TRUE(std::isnan(loss.download()[0]));
}

}  // namespace
}  // namespace torus::cuda
