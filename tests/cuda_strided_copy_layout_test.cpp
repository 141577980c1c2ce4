// The strided copy's host-side layout (kernels/cuda/strided_copy.h), without a GPU: what
// the copy kernel is told for contiguous, transposed, sliced and broadcast tensors.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/strided_copy.h"
#include "kernels/cuda/where.h"

namespace torus::cuda {
namespace {

using V = std::vector<int64_t>;

StridedCopyLayout layout(const V& dst_shape, const V& dst_strides, const V& src_shape, const V& src_strides) {
  return strided_copy_layout(dst_shape, dst_strides, src_shape, src_strides);
}

// Walks the layout as the kernel does and returns (dst offset, src offset) per element.
std::vector<std::pair<int64_t, int64_t>> offsets(const StridedCopyLayout& l) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t index = 0; index < l.numel; ++index) {
    int64_t rest = index, dst = 0, src = 0;
    for (int d = l.ndim - 1; d >= 0; --d) {
      dst += rest % l.sizes[d] * l.dst_strides[d];
      src += rest % l.sizes[d] * l.src_strides[d];
      rest /= l.sizes[d];
    }
    out.emplace_back(dst, src);
  }
  return out;
}

TEST(StridedCopyLayout, ContiguousTensorsMergeIntoOneFlatDim) {
  const StridedCopyLayout l = layout({2, 3, 4}, {12, 4, 1}, {2, 3, 4}, {12, 4, 1});
  EXPECT_EQ(l.ndim, 1);
  EXPECT_EQ(l.sizes[0], 24);
  EXPECT_EQ(l.numel, 24);
  EXPECT_TRUE(l.flat());
}

TEST(StridedCopyLayout, TransposeKeepsTwoDimsWithTheSourceStridesSwapped) {
  // dst (3, 2) contiguous from src = a (2, 3) contiguous tensor transposed.
  const StridedCopyLayout l = layout({3, 2}, {2, 1}, {3, 2}, {1, 3});
  ASSERT_EQ(l.ndim, 2);
  EXPECT_FALSE(l.flat());
  const auto o = offsets(l);
  const std::vector<std::pair<int64_t, int64_t>> expected = {{0, 0}, {1, 3}, {2, 1}, {3, 4}, {4, 2}, {5, 5}};
  EXPECT_EQ(o, expected);
}

TEST(StridedCopyLayout, BroadcastSourceGetsZeroStrides) {
  // dst (2, 3) from a row (3) and from a column (2, 1).
  const auto row = offsets(layout({2, 3}, {3, 1}, {3}, {1}));
  const std::vector<std::pair<int64_t, int64_t>> row_expected = {{0, 0}, {1, 1}, {2, 2}, {3, 0}, {4, 1}, {5, 2}};
  EXPECT_EQ(row, row_expected);
  const auto column = offsets(layout({2, 3}, {3, 1}, {2, 1}, {1, 1}));
  const std::vector<std::pair<int64_t, int64_t>> column_expected = {{0, 0}, {1, 0}, {2, 0}, {3, 1}, {4, 1}, {5, 1}};
  EXPECT_EQ(column, column_expected);
  // A scalar source fills the whole destination from element 0.
  for (const auto& [dst, src] : offsets(layout({4, 5}, {5, 1}, {}, {}))) EXPECT_EQ(src, 0) << dst;
}

TEST(StridedCopyLayout, SizeOneDimsAreDroppedAndNarrowedRowsStayApart) {
  // dst: columns 1..2 of a (4, 5) tensor (strides 5, 1), from a contiguous (4, 1, 2).
  const StridedCopyLayout l = layout({4, 1, 2}, {5, 5, 1}, {4, 1, 2}, {2, 2, 1});
  EXPECT_EQ(l.ndim, 2);  // the rows cannot merge: dst jumps 5 between them
  const auto o = offsets(l);
  ASSERT_EQ(o.size(), 8u);
  EXPECT_EQ(o[2], (std::pair<int64_t, int64_t>{5, 2}));
  EXPECT_EQ(o[7], (std::pair<int64_t, int64_t>{16, 7}));
}

TEST(StridedCopyLayout, EmptyAndScalarTensors) {
  const StridedCopyLayout empty = layout({3, 0}, {0, 1}, {3, 0}, {0, 1});
  EXPECT_EQ(empty.numel, 0);
  const StridedCopyLayout scalar = layout({}, {}, {}, {});
  EXPECT_EQ(scalar.numel, 1);
  EXPECT_EQ(scalar.ndim, 0);
  EXPECT_TRUE(scalar.flat());
}

TEST(StridedCopyLayout, ShapesThatDoNotBroadcastAreRefusedByName) {
  try {
    layout({2, 3}, {3, 1}, {2}, {1});
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("[2] does not broadcast to [2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(layout({3}, {1}, {2, 3}, {3, 1}), ValueError);  // more dims in the source
}

TEST(StridedCopyLayout, TooManyUnmergeableDimsAreRefused) {
  // Nine dims of size 2, each with a stride that does not chain to the next.
  V shape(9, 2), strides(9);
  for (size_t d = 0; d < 9; ++d) strides[d] = int64_t{1} << (2 * (8 - d) + 1);
  EXPECT_THROW(layout(shape, strides, shape, strides), ValueError);
  EXPECT_EQ(element_bytes(ElementType::bf16), 2);
  EXPECT_EQ(element_bytes(ElementType::i64), 8);
}

TEST(WhereLayout, EachOperandBroadcastsOverTheOutputDims) {
  // out (2, 3, 4); condition (3, 1), a (4), b (2, 3, 4).
  const WhereLayout l = where_layout(V{2, 3, 4}, V{3, 1}, V{4}, V{2, 3, 4});
  ASSERT_EQ(l.ndim, 3);
  EXPECT_EQ(l.numel, 24);
  EXPECT_EQ((V{l.condition_strides[0], l.condition_strides[1], l.condition_strides[2]}), (V{0, 1, 0}));
  EXPECT_EQ((V{l.a_strides[0], l.a_strides[1], l.a_strides[2]}), (V{0, 0, 1}));
  EXPECT_EQ((V{l.b_strides[0], l.b_strides[1], l.b_strides[2]}), (V{12, 4, 1}));
  // Size-1 output dims are dropped; a scalar operand has no strides at all.
  const WhereLayout m = where_layout(V{1, 5}, V{}, V{1, 5}, V{5});
  ASSERT_EQ(m.ndim, 1);
  EXPECT_EQ(m.condition_strides[0], 0);
  EXPECT_EQ(m.a_strides[0], 1);
  EXPECT_THROW(where_layout(V{2, 3}, V{2}, V{2, 3}, V{2, 3}), ValueError);
}

}  // namespace
}  // namespace torus::cuda
