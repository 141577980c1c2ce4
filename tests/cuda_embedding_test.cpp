// GPU: embedding gather and its deterministic backward (kernels/cuda/embedding.h) against
// a CPU reference (sums in position order, as cpu::scatter_add_rows), with repeated and
// skewed token ids, odd widths (the scalar path), and out-of-range ids reported.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/embedding.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceArray;
using testing::DeviceBuffer;
using testing::random_vector;

class EmbeddingTest : public CudaTest {
 protected:
  // hot: a share of the tokens is id 0 (a padding token), to load one tile heavily.
  void check(int64_t n, int64_t vocab, int64_t dim, double hot) {
    std::mt19937 rng(71);
    std::uniform_int_distribution<int64_t> id(0, vocab - 1);
    std::bernoulli_distribution is_hot(hot);
    std::vector<int64_t> index(static_cast<size_t>(n));
    for (int64_t& v : index) v = is_hot(rng) ? 0 : id(rng);
    const std::vector<float> w = random_vector(static_cast<size_t>(vocab * dim), 72);
    const std::vector<float> g = random_vector(static_cast<size_t>(n * dim), 73);
    DeviceBuffer dw(w), dout(static_cast<size_t>(n * dim)), dg(g), dgw(static_cast<size_t>(vocab * dim));
    DeviceArray<int64_t> di(index);
    DeviceArray<unsigned long long> bad(1);
    embedding_forward(dw.get(), di.get(), dout.get(), bad.get(), n, vocab, dim, stream_);
    embedding_backward(dg.get(), di.get(), dgw.get(), n, vocab, dim, stream_);
    sync();
    const std::string what = "embedding " + std::to_string(n) + " into (" + std::to_string(vocab) + ", " +
                             std::to_string(dim) + ")";
    EXPECT_EQ(bad.download()[0], ~0ull) << what;
    const std::vector<float> out = dout.download();
    std::vector<float> want_gw(w.size(), 0.0f);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = index[static_cast<size_t>(k)];
      for (int64_t d = 0; d < dim; ++d) {
        ASSERT_EQ(out[static_cast<size_t>(k * dim + d)], w[static_cast<size_t>(v * dim + d)]) << what;
        // float, in position order: the kernel's order, so the result is equal, not close.
        want_gw[static_cast<size_t>(v * dim + d)] += g[static_cast<size_t>(k * dim + d)];
      }
    }
    const std::vector<float> gw = dgw.download();
    EXPECT_EQ(gw, want_gw) << what << " backward";
  }
};

TEST_F(EmbeddingTest, Vec4Rows) {
  check(1, 1, 4, 0.0);
  check(1000, 300, 64, 0.0);
  check(4096, 50257, 128, 0.3);
}

TEST_F(EmbeddingTest, OddWidths) {
  check(777, 129, 3, 0.0);
  check(2049, 1000, 1025, 0.5);  // rows longer than the backward's block
}

TEST_F(EmbeddingTest, OutOfRangeReported) {
  const std::vector<int64_t> index = {1, 5, -1, 2, 7};
  DeviceBuffer dw(random_vector(5 * 4, 74)), dout(5 * 4);
  DeviceArray<int64_t> di(index);
  DeviceArray<unsigned long long> bad(1);
  embedding_forward(dw.get(), di.get(), dout.get(), bad.get(), 5, 5, 4, stream_);
  sync();
  EXPECT_EQ(bad.download()[0], 1ull);
  const std::vector<float> out = dout.download();
  for (int d = 0; d < 4; ++d) {
    EXPECT_EQ(out[static_cast<size_t>(4 + d)], 0.0f);
    EXPECT_EQ(out[static_cast<size_t>(8 + d)], 0.0f);
  }
}

}  // namespace
}  // namespace torus::cuda
