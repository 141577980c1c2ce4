// Reductions over the middle axis of a contiguous (outer, reduce, inner) array: the
// layout any single-dim or contiguous-block reduction of a row-major tensor takes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

// out[o, i] = sum_r in[o, r, i]
template <class T>
void sum_middle(const T* in, T* out, int64_t outer, int64_t reduce, int64_t inner) {
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(reduce, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t o = begin; o < end; ++o) {
                     const T* row = in + o * reduce;
                     T acc = 0;
#pragma omp simd reduction(+ : acc)
                     for (int64_t r = 0; r < reduce; ++r) acc += row[r];
                     out[o] = acc;
                   }
                 });
    return;
  }
  // Column sums: accumulate whole rows so the inner loop is contiguous and vectorizes.
  auto columns = [&](int64_t o, int64_t i0, int64_t i1) {
    T* dst = out + o * inner;
    const T* src = in + o * reduce * inner;
    for (int64_t i = i0; i < i1; ++i) dst[i] = 0;
    for (int64_t r = 0; r < reduce; ++r) {
      const T* row = src + r * inner;
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dst[i] += row[i];
    }
  };
  if (outer >= num_threads()) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / (reduce * inner)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t o = begin; o < end; ++o) columns(o, 0, inner);
                 });
  } else {
    for (int64_t o = 0; o < outer; ++o)
      parallel_for(inner, std::max<int64_t>(16, kParallelGrain / std::max<int64_t>(reduce, 1)),
                   [&](int64_t i0, int64_t i1) { columns(o, i0, i1); });
  }
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
