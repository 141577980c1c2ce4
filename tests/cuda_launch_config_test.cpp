// Host-side arithmetic of the CUDA backend, without a GPU: launch configurations
// (kernels/cuda/launch_config.h), broadcast / reduction layouts (kernels/cuda/broadcast.h)
// and the chunking of long column sums (kernels/cuda/reduce_dim.h).
#include <gtest/gtest.h>

#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/broadcast.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/reduce_dim.h"

namespace torus::cuda {
namespace {

// Compile-time: the functions are usable in constant expressions.
static_assert(ceil_div(10, 4) == 3 && ceil_div(8, 4) == 2 && ceil_div(0, 4) == 0);
static_assert(round_up(33, 32) == 64 && round_up(32, 32) == 32);
static_assert(elementwise_config(1000, 4).grid == 1);
static_assert(row_config(10, 100).warp_per_row);

TEST(LaunchConfig, ElementwiseCoversEveryVectorOnce) {
  for (int64_t n : {1, 3, 4, 5, 255, 256, 257, 1023, 1024, 1025, 1 << 20}) {
    for (int width : {1, 2, 4}) {
      const LaunchConfig1D c = elementwise_config(n, width);
      EXPECT_EQ(c.block, 256);
      EXPECT_EQ(c.vector_width, width);
      // Enough threads for one vector each (below the cap), and no block without work.
      EXPECT_GE(c.grid * c.block * width, n) << n << " x" << width;
      EXPECT_LT((c.grid - 1) * c.block * width, n) << n << " x" << width;
    }
  }
}

TEST(LaunchConfig, ElementwiseCapsTheGridForGridStrideLoops) {
  const LaunchConfig1D c = elementwise_config(int64_t{1} << 34, 4);
  EXPECT_EQ(c.grid, kDefaultMaxBlocks);
  EXPECT_EQ(elementwise_config(int64_t{1} << 40, 1, 256, kMaxGridX * 2).grid, kMaxGridX);
  EXPECT_EQ(elementwise_config(1 << 20, 1, 128, 10).grid, 10);
}

TEST(LaunchConfig, NothingToDoMeansNoBlocks) {
  EXPECT_EQ(elementwise_config(0).grid, 0);
  EXPECT_EQ(elementwise_config(-5).grid, 0);
  EXPECT_EQ(row_config(0, 100).grid, 0);
  EXPECT_EQ(per_output_config(0).grid, 0);
}

TEST(LaunchConfig, ShortRowsTakeAWarpEach) {
  for (int64_t cols : {1, 31, 32, 100, 1024}) {
    const RowLaunchConfig c = row_config(1001, cols);
    EXPECT_TRUE(c.warp_per_row) << cols;
    EXPECT_EQ(c.block, kRowBlockThreads);
    EXPECT_EQ(c.rows_per_block, kRowBlockThreads / kWarpSize);
    EXPECT_EQ(c.grid, ceil_div(1001, c.rows_per_block));  // 251: the last block has one row
  }
}

TEST(LaunchConfig, LongRowsTakeABlockSizedToTheRow) {
  const RowLaunchConfig c = row_config(7, 1025);
  EXPECT_FALSE(c.warp_per_row);
  EXPECT_EQ(c.grid, 7);
  EXPECT_EQ(c.rows_per_block, 1);
  EXPECT_EQ(c.block, 288);  // ceil(1025 / 4) = 257 threads, rounded up to whole warps
  EXPECT_EQ(row_config(3, 2048).block, 512);
  EXPECT_EQ(row_config(3, 1 << 20).block, kBlockPerRowMaxThreads);
  EXPECT_EQ(row_config(3, 1 << 20).block % kWarpSize, 0);
}

TEST(LaunchConfig, Alignment) {
  EXPECT_TRUE(is_aligned(0x1000, 4, 4));
  EXPECT_TRUE(is_aligned(0x1010, 4, 4));
  EXPECT_FALSE(is_aligned(0x1004, 4, 4));
  EXPECT_TRUE(is_aligned(0x1004, 1, 4));
  EXPECT_TRUE(is_aligned(0x1008, 4, 2));
}

std::vector<int64_t> sizes_of(const BroadcastLayout& l) { return {l.sizes, l.sizes + l.ndim}; }
std::vector<int64_t> a_strides_of(const BroadcastLayout& l) { return {l.a_strides, l.a_strides + l.ndim}; }
std::vector<int64_t> b_strides_of(const BroadcastLayout& l) { return {l.b_strides, l.b_strides + l.ndim}; }

TEST(Broadcast, SameShapesMergeToOneDim) {
  const std::vector<int64_t> shape = {2, 3, 4};
  const BroadcastLayout l = broadcast_layout(shape, shape);
  EXPECT_TRUE(l.same_shape());
  EXPECT_EQ(sizes_of(l), (std::vector<int64_t>{24}));
  EXPECT_EQ(a_strides_of(l), (std::vector<int64_t>{1}));
  EXPECT_EQ(b_strides_of(l), (std::vector<int64_t>{1}));
  EXPECT_EQ(l.numel, 24);
}

TEST(Broadcast, BiasOverRows) {
  const std::vector<int64_t> a = {8, 16, 32}, b = {32};
  const BroadcastLayout l = broadcast_layout(a, b);
  EXPECT_FALSE(l.same_shape());
  EXPECT_EQ(sizes_of(l), (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(a_strides_of(l), (std::vector<int64_t>{32, 1}));
  EXPECT_EQ(b_strides_of(l), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(l.numel, 4096);
  EXPECT_EQ(l.b_numel, 32);
}

TEST(Broadcast, BothSidesStretchAndSizeOneDimsDrop) {
  const std::vector<int64_t> a = {4, 1, 5}, b = {1, 3, 1};
  EXPECT_EQ(broadcast_shape(a, b), (std::vector<int64_t>{4, 3, 5}));
  const BroadcastLayout l = broadcast_layout(a, b);
  EXPECT_EQ(sizes_of(l), (std::vector<int64_t>{4, 3, 5}));
  EXPECT_EQ(a_strides_of(l), (std::vector<int64_t>{5, 0, 1}));
  EXPECT_EQ(b_strides_of(l), (std::vector<int64_t>{0, 1, 0}));
  const std::vector<int64_t> c = {1, 1, 6}, d = {6};
  const BroadcastLayout m = broadcast_layout(c, d);
  EXPECT_TRUE(m.same_shape());
  EXPECT_EQ(sizes_of(m), (std::vector<int64_t>{6}));
}

TEST(Broadcast, ScalarAgainstTensor) {
  const std::vector<int64_t> a = {}, b = {3, 4};
  const BroadcastLayout l = broadcast_layout(a, b);
  EXPECT_EQ(sizes_of(l), (std::vector<int64_t>{12}));
  EXPECT_EQ(a_strides_of(l), (std::vector<int64_t>{0}));
  EXPECT_EQ(b_strides_of(l), (std::vector<int64_t>{1}));
}

TEST(Broadcast, MismatchNamesBothShapes) {
  const std::vector<int64_t> a = {2, 3}, b = {4, 3};
  try {
    broadcast_layout(a, b);
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3] and [4, 3]"), std::string::npos) << e.what();
  }
}

TEST(Broadcast, TooManyDimsAfterMergingIsAnError) {
  // Alternating stretched dims cannot merge: 9 dims left.
  std::vector<int64_t> a, b;
  for (int i = 0; i < 9; ++i) {
    a.push_back(i % 2 ? 2 : 1);
    b.push_back(i % 2 ? 1 : 2);
  }
  EXPECT_THROW(broadcast_layout(a, b), ValueError);
}

TEST(Broadcast, ReductionLayoutOfABias) {
  const std::vector<int64_t> a = {6, 5}, b = {5};
  const BroadcastLayout l = broadcast_layout(a, b);
  const ReductionLayout ra = reduction_layout(l, 0);
  EXPECT_EQ(ra.outputs, 30);
  EXPECT_EQ(ra.reduced_count, 1);
  const ReductionLayout rb = reduction_layout(l, 1);
  EXPECT_EQ(rb.outputs, 5);
  EXPECT_EQ(rb.reduced_count, 6);
  ASSERT_EQ(rb.kept_ndim, 1);
  EXPECT_EQ(rb.kept_out_strides[0], 1);
  ASSERT_EQ(rb.reduced_ndim, 1);
  EXPECT_EQ(rb.reduced_out_strides[0], 5);
}

// The reduction layout, walked on the host as the kernel does, visits every output element
// exactly once across all gradient elements, and each at a's own offset.
TEST(Broadcast, ReductionLayoutPartitionsTheOutput) {
  const std::vector<int64_t> a = {3, 1, 4, 1}, b = {2, 1, 5};
  const BroadcastLayout l = broadcast_layout(a, b);
  for (int operand = 0; operand < 2; ++operand) {
    const ReductionLayout r = reduction_layout(l, operand);
    std::vector<int> visits(static_cast<size_t>(l.numel), 0);
    for (int64_t t = 0; t < r.outputs; ++t) {
      int64_t rest = t, base = 0, own_base = 0;
      for (int d = r.kept_ndim - 1; d >= 0; --d) {
        const int64_t coord = rest % r.kept_sizes[d];
        rest /= r.kept_sizes[d];
        base += coord * r.kept_out_strides[d];
        own_base += coord * (operand == 0 ? r.kept_a_strides[d] : r.kept_b_strides[d]);
      }
      EXPECT_EQ(own_base, t);
      for (int64_t j = 0; j < r.reduced_count; ++j) {
        int64_t rest_j = j, offset = base;
        for (int d = r.reduced_ndim - 1; d >= 0; --d) {
          offset += (rest_j % r.reduced_sizes[d]) * r.reduced_out_strides[d];
          rest_j /= r.reduced_sizes[d];
        }
        ++visits[static_cast<size_t>(offset)];
      }
    }
    for (int v : visits) EXPECT_EQ(v, 1) << "operand " << operand;
    EXPECT_EQ(r.outputs, operand == 0 ? 12 : 10);
  }
}

TEST(ReduceDimChunks, OnlyFewOutputsOverALongNonLastDimAreSplit) {
  // A bias gradient over 8192 rows: 128 chunks of 64 rows, a partial per (chunk, feature).
  EXPECT_EQ(reduce_dim_chunks(1, 8192, 768), 128);
  EXPECT_EQ(reduce_dim_workspace(1, 8192, 768), 128 * 768);
  EXPECT_EQ(reduce_dim_chunks(1, 65, 2), 2);
  // One chunk's worth of rows, the last dim (the row kernels), enough outputs, no outputs.
  EXPECT_EQ(reduce_dim_chunks(1, 64, 768), 1);
  EXPECT_EQ(reduce_dim_workspace(1, 64, 768), 0);
  EXPECT_EQ(reduce_dim_chunks(4, 1000000, 1), 1);
  EXPECT_EQ(reduce_dim_chunks(1, 1 << 20, 1 << 20), 1);
  EXPECT_EQ(reduce_dim_chunks(0, 100, 4), 1);
  EXPECT_EQ(reduce_dim_chunks(1, 0, 4), 1);
  // Capped: a very long dim over two outputs.
  EXPECT_EQ(reduce_dim_chunks(1, int64_t{1} << 30, 2), kReduceDimMaxChunks);
  // Rows (I == 1): a full reduction of 2^24 elements in 1024 chunks of 16384, a block each;
  // short rows, or enough of them, in one stage.
  EXPECT_EQ(reduce_dim_row_chunks(1, int64_t{1} << 24), 1024);
  EXPECT_EQ(reduce_dim_workspace(1, int64_t{1} << 24, 1), 1024);
  EXPECT_EQ(reduce_dim_row_chunks(3, 100000), 7);
  EXPECT_EQ(reduce_dim_workspace(3, 100000, 1), 21);
  EXPECT_EQ(reduce_dim_row_chunks(1, 16384), 1);
  EXPECT_EQ(reduce_dim_row_chunks(4096, 1 << 20), 1);
  EXPECT_EQ(reduce_dim_workspace(4096, 1 << 20, 1), 0);
  for (int64_t size : {16385, 100000, 1 << 20, (1 << 20) + 7}) {
    const int64_t chunks = reduce_dim_row_chunks(2, size);
    EXPECT_LT((chunks - 1) * ceil_div(size, chunks), size) << size;
  }
  // LayerNorm's parameter sums: two partials (weight, bias) per (chunk, column).
  EXPECT_EQ(layer_norm_backward_workspace(8192, 768), 2 * 128 * 768);
  EXPECT_EQ(layer_norm_backward_workspace(64, 768), 0);
  EXPECT_EQ(layer_norm_backward_workspace(100000, 1), 0) << "one column: one stage (the row chunks are not LayerNorm's)";
  EXPECT_EQ(reduce_dim_workspace(5, 100000, 0), 0) << "no output";
  // Every chunk starts inside the dim, so each partial sums real elements.
  for (int64_t size : {65, 100, 1000, 4097, 8192, 100000}) {
    const int64_t chunks = reduce_dim_chunks(1, size, 3);
    EXPECT_LT((chunks - 1) * ceil_div(size, chunks), size) << size;
  }
}

}  // namespace
}  // namespace torus::cuda
