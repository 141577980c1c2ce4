// Reductions over the middle axis of a contiguous (outer, reduce, inner) array: the
// layout any single-dim or contiguous-block reduction of a row-major tensor takes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <omp.h>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

// out[o, i] = sum_r in[o, r, i]
//
// When there are fewer outputs than threads (a full sum, a bias gradient summed over the
// batch), threads split the reduced axis instead and add their partial results at the
// end, so every thread streams whole contiguous rows.
template <class T>
void sum_middle(const T* in, T* out, int64_t outer, int64_t reduce, int64_t inner) {
  auto row_sum = [](const T* row, int64_t n) {
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t r = 0; r < n; ++r) acc += row[r];
    return acc;
  };
  // dst[i] += sum over rows [r0, r1) of src[r, i], for one outer index.
  auto add_rows = [inner](const T* src, T* dst, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = src + r * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) dst[i] += row[i];
    }
  };
  const int threads = num_threads();
  const bool split_reduce = outer < threads && reduce * inner > kParallelGrain && reduce >= threads;
  if (split_reduce) {
    for (int64_t o = 0; o < outer; ++o) {
      const T* src = in + o * reduce * inner;
      std::vector<T> partial(static_cast<size_t>(threads * inner), T(0));
      parallel_for(reduce, std::max<int64_t>(1, kParallelGrain / inner),
                   [&](int64_t r0, int64_t r1) {
                     const int64_t slot = omp_get_thread_num() % threads;
                     T* dst = partial.data() + slot * inner;
                     if (inner == 1) {
                       dst[0] += row_sum(src + r0, r1 - r0);
                     } else {
                       add_rows(src, dst, r0, r1);
                     }
                   });
      T* result = out + o * inner;
      for (int64_t i = 0; i < inner; ++i) result[i] = 0;
      for (int t = 0; t < threads; ++t)
        for (int64_t i = 0; i < inner; ++i) result[i] += partial[static_cast<size_t>(t * inner + i)];
    }
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(reduce * inner, 1));
  parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      if (inner == 1) {
        out[o] = row_sum(in + o * reduce, reduce);
      } else {
        T* dst = out + o * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] = 0;
        add_rows(in + o * reduce * inner, dst, 0, reduce);
      }
    }
  });
}

// values[o, i] = max_r in[o, r, i] and its first index r. NaN wins, as in PyTorch.
template <class T>
void max_middle(const T* in, T* values, int64_t* indices, int64_t outer, int64_t reduce,
                int64_t inner) {
  parallel_for(outer * inner, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(reduce, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t k = begin; k < end; ++k) {
                   const int64_t o = k / inner, i = k % inner;
                   const T* src = in + o * reduce * inner + i;
                   T best = src[0];
                   int64_t best_r = 0;
                   for (int64_t r = 1; r < reduce; ++r) {
                     const T v = src[r * inner];
                     if (v > best || (v != v && best == best)) {
                       best = v;
                       best_r = r;
                     }
                   }
                   values[k] = best;
                   indices[k] = best_r;
                 }
               });
}

}  // namespace torus::cpu
