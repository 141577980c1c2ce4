// GPU: sum / mean / max over one dim (kernels/cuda/reduce_dim.h) of (O, S, I) against a CPU
// reference in double, forward and backward; the max's index is the first max (and the
// first NaN wins), as cpu::max_middle. Sum and mean over a long non-last dim in two stages
// (with the workspace): the reference's values, and the same bits on every run.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/reduce_dim.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceArray;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

class ReduceDimTest : public CudaTest {
 protected:
  // `x` defaults to random values; tests of ties pass their own.
  // `chunked`: with the workspace reduce_dim_workspace asks for (two stages where it splits).
  std::vector<float> check(int64_t outer, int64_t size, int64_t inner, ReduceDimOp op, std::vector<float> x = {},
                           bool chunked = false) {
    const size_t n = static_cast<size_t>(outer * size * inner), outputs = static_cast<size_t>(outer * inner);
    if (x.empty()) x = random_vector(n, 41);
    const std::vector<float> g = random_vector(outputs, 42);
    DeviceBuffer dx(x), dout(outputs), dg(g), dgx(n);
    DeviceArray<int64_t> indices(outputs);
    const int64_t workspace_floats = chunked ? reduce_dim_workspace(outer, size, inner) : 0;
    DeviceBuffer workspace(static_cast<size_t>(std::max<int64_t>(workspace_floats, 1)));
    reduce_dim_forward(dx.get(), dout.get(), indices.get(), outer, size, inner, op, stream_,
                       workspace_floats > 0 ? workspace.get() : nullptr);
    reduce_dim_backward(dg.get(), indices.get(), dgx.get(), outer, size, inner, op, stream_);
    sync();

    std::vector<double> want(outputs), want_gx(n, 0.0);
    std::vector<int64_t> want_index(outputs, 0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const size_t k = static_cast<size_t>(o * inner + i);
        auto at = [&](int64_t s) { return static_cast<size_t>((o * size + s) * inner + i); };
        if (op == ReduceDimOp::max) {
          float best = x[at(0)];
          int64_t best_s = 0;
          for (int64_t s = 1; s < size; ++s) {
            const float v = x[at(s)];
            if (v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              best_s = s;
            }
          }
          want[k] = best;
          want_index[k] = best_s;
          want_gx[at(best_s)] = g[k];
        } else {
          double sum = 0;
          for (int64_t s = 0; s < size; ++s) sum += x[at(s)];
          const double scale = op == ReduceDimOp::mean ? 1.0 / static_cast<double>(size) : 1.0;
          want[k] = sum * scale;
          for (int64_t s = 0; s < size; ++s) want_gx[at(s)] = g[k] * scale;
        }
      }
    }
    const std::string what = std::string(op == ReduceDimOp::sum ? "sum" : op == ReduceDimOp::mean ? "mean" : "max") +
                             " (" + std::to_string(outer) + ", " + std::to_string(size) + ", " +
                             std::to_string(inner) + ")";
    const std::vector<float> got = dout.download();
    expect_close(got, want, 1e-4 + 1e-6 * static_cast<double>(size), 1e-5, what);
    expect_close(dgx.download(), want_gx, 1e-6, 1e-6, what + " backward");
    if (op == ReduceDimOp::max) {
      EXPECT_EQ(indices.download(), want_index) << what << " indices";
    }
    return got;
  }
};

const ReduceDimOp kOps[] = {ReduceDimOp::sum, ReduceDimOp::mean, ReduceDimOp::max};

TEST_F(ReduceDimTest, LastDimWarpPerRow) {
  for (ReduceDimOp op : kOps) {
    check(1, 1, 1, op);
    check(37, 33, 1, op);
    check(130, 1024, 1, op);
  }
}

TEST_F(ReduceDimTest, LastDimBlockPerRow) {
  for (ReduceDimOp op : kOps) {
    check(3, 1025, 1, op);
    check(2, 50257, 1, op);  // longer than a block
  }
}

TEST_F(ReduceDimTest, MiddleAndFirstDim) {
  for (ReduceDimOp op : kOps) {
    check(5, 7, 3, op);
    check(1, 300, 129, op);  // the first dim of a (300, 129)
    check(4, 2000, 17, op);
  }
}

TEST_F(ReduceDimTest, FewOutputsOverALongDimSumInTwoStagesTheSameEveryRun) {
  struct Shape3 {
    int64_t outer, size, inner;
  };
  // A bias gradient (rows, features), a middle dim, a split of 2 chunks with a short last one.
  // and a full reduction of a gradient (one row of 2^20) and a few long rows.
  for (const Shape3 s : {Shape3{1, 8192, 768}, Shape3{3, 1000, 5}, Shape3{1, 65, 2}, Shape3{1, 1 << 20, 1},
                         Shape3{3, 100003, 1}}) {
    ASSERT_GT(reduce_dim_workspace(s.outer, s.size, s.inner), 0) << s.size;
    for (ReduceDimOp op : {ReduceDimOp::sum, ReduceDimOp::mean}) {
      const std::vector<float> first = check(s.outer, s.size, s.inner, op, {}, /*chunked=*/true);
      EXPECT_EQ(check(s.outer, s.size, s.inner, op, {}, /*chunked=*/true), first) << "a second run, the same bits";
    }
  }
}

TEST_F(ReduceDimTest, MaxTiesGoToTheFirstIndex) {
  // Rows of 2000 (block per row) and 40 (warp per row), all equal but for a repeated max.
  for (int64_t size : {40, 2000}) {
    std::vector<float> x(static_cast<size_t>(2 * size), 1.0f);
    x[7] = x[9] = x[static_cast<size_t>(size - 1)] = 5.0f;
    x[static_cast<size_t>(size + size - 2)] = x[static_cast<size_t>(size + 3)] = 5.0f;
    check(2, size, 1, ReduceDimOp::max, x);
    check(1, size, 2, ReduceDimOp::max, x);  // the same values down columns
  }
}

TEST_F(ReduceDimTest, MaxFirstNanWins) {
  std::vector<float> x(3000, 0.0f);
  x[10] = 9.0f;
  x[1500] = NAN;
  x[2500] = NAN;
  x[2999] = 100.0f;
  // expect_close cannot compare NaN values: check the indices and the NaN directly.
  DeviceBuffer dx(x), dout(1);
  DeviceArray<int64_t> indices(1);
  reduce_dim_forward(dx.get(), dout.get(), indices.get(), 1, 3000, 1, ReduceDimOp::max, stream_);
  sync();
  EXPECT_TRUE(std::isnan(dout.download()[0]));
  EXPECT_EQ(indices.download()[0], 1500);
}

TEST_F(ReduceDimTest, EmptyDim) {
  DeviceBuffer dx(1), dout(4);
  reduce_dim_forward(dx.get(), dout.get(), nullptr, 2, 0, 2, ReduceDimOp::sum, stream_);
  sync();
  for (float v : dout.download()) EXPECT_EQ(v, 0.0f);
  reduce_dim_forward(dx.get(), dout.get(), nullptr, 4, 0, 1, ReduceDimOp::mean, stream_);
  sync();
  for (float v : dout.download()) EXPECT_TRUE(std::isnan(v));
  DeviceArray<int64_t> indices(4);
  EXPECT_THROW(reduce_dim_forward(dx.get(), dout.get(), indices.get(), 4, 0, 1, ReduceDimOp::max, stream_),
               std::exception);
}

}  // namespace
}  // namespace torus::cuda
