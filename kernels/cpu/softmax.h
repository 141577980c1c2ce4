// Softmax and log-softmax over the middle axis of a contiguous (outer, D, inner) array:
// the layout a softmax over any one dim of a row-major tensor takes.
#pragma once

#include "kernels/common/vector_math.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {
namespace detail {

// inner == 1: one contiguous row of n values, shifted by its max so exp cannot overflow.
template <class T>
void softmax_row(const T* x, T* y, int64_t n, bool log) {
  T max = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : max)
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
  T sum = 0;
  if (log) {
    for (int64_t i = 0; i < n; ++i) sum += fn::vexp(x[i] - max);
    const T shift = max + std::log(sum);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - shift;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = fn::vexp(x[i] - max);
      sum += y[i];
    }
    const T scale = T(1) / sum;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] *= scale;
  }
}

// inner > 1: `n` neighbouring columns of one outer slice, walked row by row so every
// inner loop is contiguous. x and y point at the first column; rows are `stride` apart.
// scratch holds 2n values (per-column max and sum).
template <class T>
void softmax_columns(const T* x, T* y, int64_t dim_size, int64_t stride, int64_t n, bool log,
                     T* scratch) {
  T* max = scratch;
  T* sum = scratch + n;
  std::copy(x, x + n, max);
  for (int64_t d = 1; d < dim_size; ++d) {
    const T* row = x + d * stride;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) max[i] = row[i] > max[i] ? row[i] : max[i];
  }
  std::fill(sum, sum + n, T(0));
  for (int64_t d = 0; d < dim_size; ++d) {
    const T* in = x + d * stride;
    T* out = y + d * stride;
    for (int64_t i = 0; i < n; ++i) {
      const T e = fn::vexp(in[i] - max[i]);
      if (!log) out[i] = e;
      sum[i] += e;
    }
  }
  if (log) {
    for (int64_t i = 0; i < n; ++i) sum[i] = max[i] + std::log(sum[i]);  // log-sum-exp
    for (int64_t d = 0; d < dim_size; ++d) {
      const T* in = x + d * stride;
      T* out = y + d * stride;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = in[i] - sum[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) sum[i] = T(1) / sum[i];
    for (int64_t d = 0; d < dim_size; ++d) {
      T* out = y + d * stride;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] *= sum[i];
    }
  }
}

// Backward of one row (inner == 1) from the forward output y and upstream g.
template <class T>
void softmax_backward_row(const T* y, const T* g, T* gx, int64_t n, bool log) {
  T dot = 0;
  if (log) {
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < n; ++i) dot += g[i];
    for (int64_t i = 0; i < n; ++i) gx[i] = g[i] - fn::vexp(y[i]) * dot;
  } else {
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < n; ++i) dot += g[i] * y[i];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gx[i] = y[i] * (g[i] - dot);
  }
}

// Backward of `n` neighbouring columns (inner > 1); scratch holds n values.
template <class T>
void softmax_backward_columns(const T* y, const T* g, T* gx, int64_t dim_size, int64_t stride,
                              int64_t n, bool log, T* scratch) {
  T* dot = scratch;
  std::fill(dot, dot + n, T(0));
  for (int64_t d = 0; d < dim_size; ++d) {  // log: sum(g); else sum(g * y)
    const T* yr = y + d * stride;
    const T* gr = g + d * stride;
    if (log) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) dot[i] += gr[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) dot[i] += gr[i] * yr[i];
    }
  }
  for (int64_t d = 0; d < dim_size; ++d) {
    const T* yr = y + d * stride;
    const T* gr = g + d * stride;
    T* out = gx + d * stride;
    if (log) {
      for (int64_t i = 0; i < n; ++i) out[i] = gr[i] - fn::vexp(yr[i]) * dot[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = yr[i] * (gr[i] - dot[i]);
    }
  }
}

// Runs block(offset, n, scratch) over the (outer, inner) columns of an (outer, D, inner)
// array: `n` neighbouring columns starting at element `offset`, with scratch for 2n
// values allocated once per chunk. Splits whole outer slices over the pool when there
// are enough of them, else the columns of each slice.
template <class T, class Block>
void parallel_column_blocks(int64_t outer, int64_t dim_size, int64_t inner, const Block& block) {
  const int64_t slice = dim_size * inner;
  const int64_t work_per_column = std::max<int64_t>(dim_size, 1);
  if (outer >= num_threads()) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / (work_per_column * inner)),
                 [&](int64_t begin, int64_t end) {
                   std::vector<T> scratch(2 * inner);
                   for (int64_t o = begin; o < end; ++o) block(o * slice, inner, scratch.data());
                 });
    return;
  }
  for (int64_t o = 0; o < outer; ++o) {
    parallel_for(inner, std::max<int64_t>(16, kParallelGrain / work_per_column),
                 [&](int64_t i0, int64_t i1) {
                   std::vector<T> scratch(2 * (i1 - i0));
                   block(o * slice + i0, i1 - i0, scratch.data());
                 });
  }
}

}  // namespace detail

// y = softmax(x) (or log_softmax if `log`) along the middle axis of (outer, D, inner).
template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t dim_size, int64_t inner, bool log) {
  if (dim_size == 0 || inner == 0) return;  // no values
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / dim_size),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t o = begin; o < end; ++o)
                     detail::softmax_row(x + o * dim_size, y + o * dim_size, dim_size, log);
                 });
    return;
  }
  detail::parallel_column_blocks<T>(
      outer, dim_size, inner, [&](int64_t offset, int64_t n, T* scratch) {
        detail::softmax_columns(x + offset, y + offset, dim_size, inner, n, log, scratch);
      });
}

// Input gradient from the forward output y and upstream g, along the same axis:
//   softmax:      gx = y * (g - sum(g * y))
//   log_softmax:  gx = g - exp(y) * sum(g)
template <class T>
void softmax_backward(const T* y, const T* g, T* gx, int64_t outer, int64_t dim_size, int64_t inner,
                      bool log) {
  if (dim_size == 0 || inner == 0) return;
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / dim_size),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t o = begin; o < end; ++o) {
                     const int64_t at = o * dim_size;
                     detail::softmax_backward_row(y + at, g + at, gx + at, dim_size, log);
                   }
                 });
    return;
  }
  detail::parallel_column_blocks<T>(
      outer, dim_size, inner, [&](int64_t offset, int64_t n, T* scratch) {
        detail::softmax_backward_columns(y + offset, g + offset, gx + offset, dim_size, inner, n,
                                         log, scratch);
      });
}

}  // namespace torus::cpu
