// Host-only: the head layouts and the split of attention's (B, H) products into
// strided-batched calls (kernels/cuda/attention.h). Every (b, h) matrix of every operand
// must be reached exactly once, at b * batch + h * head, in any plan; runs without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda/attention.h"

namespace torus::cuda {
namespace {

// The element offsets a plan visits for one operand, in call order.
std::vector<int64_t> visited(const HeadBatching& plan, const HeadStrides& s) {
  std::vector<int64_t> offsets;
  for (int64_t call = 0; call < plan.calls; ++call)
    for (int64_t i = 0; i < plan.count; ++i) offsets.push_back(plan.offset(s, call) + i * plan.stride(s));
  return offsets;
}

std::vector<int64_t> expected(int64_t batch, int64_t heads, const HeadStrides& s) {
  std::vector<int64_t> offsets;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) offsets.push_back(b * s.batch + h * s.head);
  return offsets;
}

// The matrices of all operands, matched pairwise: the i-th matrix of A, B and C in a plan
// belong to the same (b, h).
void expect_covers(int64_t batch, int64_t heads, const std::vector<HeadStrides>& operands) {
  const HeadBatching plan =
      plan_head_batching(batch, heads, {operands[0], operands[1], operands[2]});
  ASSERT_EQ(plan.calls * plan.count, batch * heads);
  // Recover (b, h) of each visited matrix from the scores operand, whose offsets are unique.
  const HeadStrides scores = scores_head_strides(5, heads);
  const std::vector<int64_t> order = visited(plan, scores);
  for (const HeadStrides& s : operands) {
    const std::vector<int64_t> got = visited(plan, s);
    std::vector<int64_t> want;
    for (const int64_t o : order) {
      const int64_t b = o / scores.batch, h = (o % scores.batch) / scores.head;
      want.push_back(b * s.batch + h * s.head);
    }
    EXPECT_EQ(got, want) << "B " << batch << " H " << heads << " operand strides (" << s.batch << ", " << s.head
                         << ")";
    std::vector<int64_t> sorted = got, all = expected(batch, heads, s);
    std::sort(sorted.begin(), sorted.end());
    std::sort(all.begin(), all.end());
    EXPECT_EQ(sorted, all);
  }
}

TEST(AttentionLayout, QkvAndOutStrides) {
  // GPT-2 small: C = 768, 12 heads of 64, T = 1024.
  const HeadStrides qkv = qkv_head_strides(1024, 12, 64);
  EXPECT_EQ(qkv.batch, 1024 * 3 * 768);
  EXPECT_EQ(qkv.head, 64);
  EXPECT_EQ(qkv.row, 3 * 768);
  const HeadStrides out = out_head_strides(1024, 12, 64);
  EXPECT_EQ(out.batch, 1024 * 768);
  EXPECT_EQ(out.head, 64);
  EXPECT_EQ(out.row, 768);
  const HeadStrides contiguous = contiguous_head_strides(1024, 12, 64);
  EXPECT_EQ(contiguous.batch, 12 * 1024 * 64);
  EXPECT_EQ(contiguous.head, 1024 * 64);
  EXPECT_EQ(contiguous.row, 64);
  const HeadStrides scores = scores_head_strides(1024, 12);
  EXPECT_EQ(scores.batch, 12 * 1024 * 1024);
  EXPECT_EQ(scores.head, 1024 * 1024);
  const AttentionShape shape{.batch = 8, .heads = 12, .seq = 1024, .head_dim = 64};
  EXPECT_EQ(attention_scores_elements(shape), int64_t{8} * 12 * 1024 * 1024);
}

TEST(AttentionLayout, UniformStridesMakeOneCall) {
  const HeadStrides c = contiguous_head_strides(7, 3, 4), s = scores_head_strides(7, 3);
  const HeadBatching plan = plan_head_batching(5, 3, {c, c, s});
  EXPECT_EQ(plan.calls, 1);
  EXPECT_EQ(plan.count, 15);
  EXPECT_EQ(plan.stride(c), c.head);
  expect_covers(5, 3, {c, c, s});
}

TEST(AttentionLayout, PackedQkvSplitsOverTheSmallerDim) {
  const HeadStrides qkv = qkv_head_strides(7, 12, 4), out = out_head_strides(7, 12, 4), s = scores_head_strides(7, 12);
  // B = 4 < H = 12: one call per b over the 12 heads.
  HeadBatching plan = plan_head_batching(4, 12, {qkv, qkv, s});
  EXPECT_EQ(plan.calls, 4);
  EXPECT_EQ(plan.count, 12);
  EXPECT_TRUE(plan.over_batches);
  expect_covers(4, 12, {qkv, qkv, s});
  expect_covers(4, 12, {s, qkv, out});
  // B = 32 > H = 12: one call per h over the 32 batches.
  plan = plan_head_batching(32, 12, {qkv, out, s});
  EXPECT_EQ(plan.calls, 12);
  EXPECT_EQ(plan.count, 32);
  EXPECT_FALSE(plan.over_batches);
  EXPECT_EQ(plan.stride(qkv), qkv.batch);
  EXPECT_EQ(plan.offset(qkv, 5), 5 * qkv.head);
  expect_covers(32, 12, {qkv, out, s});
}

TEST(AttentionLayout, OneBatchOrOneHeadIsOneCall) {
  const HeadStrides qkv1 = qkv_head_strides(9, 4, 8), s1 = scores_head_strides(9, 4);
  EXPECT_EQ(plan_head_batching(1, 4, {qkv1, qkv1, s1}).calls, 1);
  expect_covers(1, 4, {qkv1, qkv1, s1});
  const HeadStrides qkv2 = qkv_head_strides(9, 1, 8), s2 = scores_head_strides(9, 1);
  const HeadBatching plan = plan_head_batching(6, 1, {qkv2, qkv2, s2});
  EXPECT_EQ(plan.calls, 1);
  EXPECT_EQ(plan.count, 6);
  expect_covers(6, 1, {qkv2, qkv2, s2});
}

}  // namespace
}  // namespace torus::cuda
