// Row gathers, deterministic row scatter-adds and block copies: the loops of embedding,
// index_select and concat over contiguous (outer, rows, inner) arrays.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

// dst[o, k, :] = src[o, index[k], :] for src (outer, src_rows, inner) and dst
// (outer, n_index, inner). Indices must already be checked to lie in [0, src_rows).
template <class T, class I>
void gather_rows(const T* src, const I* index, T* dst, int64_t outer, int64_t src_rows,
                 int64_t n_index, int64_t inner) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(inner, 1));
  parallel_for(outer * n_index, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / n_index, k = row % n_index;
      const T* from = src + (o * src_rows + static_cast<int64_t>(index[k])) * inner;
      std::copy_n(from, inner, dst + row * inner);
    }
  });
}

// dst[o, index[k], :] += src[o, k, :] for src (outer, n_index, inner) and dst
// (outer, dst_rows, inner). Each thread owns a range of destination rows and scans every
// index in order, so each sum is taken in the same order whatever the thread count (the
// scheme of PyTorch's CPU embedding backward); duplicate indices never race.
template <class T, class I>
void scatter_add_rows(const T* src, const I* index, T* dst, int64_t outer, int64_t n_index,
                      int64_t dst_rows, int64_t inner) {
  const int64_t rows = outer * dst_rows;
  // Every thread reads all indices, so split only when the adds outweigh that scan.
  const bool worth_splitting = n_index * inner * outer > kParallelGrain;
  parallel_for(rows, worth_splitting ? 1 : rows, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin / dst_rows; o * dst_rows < end; ++o) {
      // The destination rows of this slab that fall in [begin, end).
      const int64_t first = std::max(begin - o * dst_rows, int64_t{0});
      const int64_t last = std::min(end - o * dst_rows, dst_rows);
      for (int64_t k = 0; k < n_index; ++k) {
        const int64_t target = static_cast<int64_t>(index[k]);
        if (target < first || target >= last) continue;
        const T* from = src + (o * n_index + k) * inner;
        T* to = dst + (o * dst_rows + target) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) to[i] += from[i];
      }
    }
  });
}

// Copies `outer` blocks of `block` contiguous elements from src (packed) into dst, where
// consecutive blocks start `dst_stride` elements apart: one input's share of a concat.
// Threads split the elements, not the blocks, so one large block (outer == 1) is shared too.
template <class T>
void copy_blocks(const T* src, T* dst, int64_t outer, int64_t block, int64_t dst_stride) {
  if (block == 0) return;
  parallel_for(outer * block, kParallelGrain, [&](int64_t begin, int64_t end) {
    int64_t o = begin / block, i = begin % block;
    for (int64_t position = begin; position < end; ++o, i = 0) {
      const int64_t count = std::min(block - i, end - position);
      std::copy_n(src + position, count, dst + o * dst_stride + i);
      position += count;
    }
  });
}

}  // namespace torus::cpu
