// LayerNorm over the rows of a contiguous (M, D) array: a forward that saves each row's
// mean and 1/std, and one fused backward pass for x, weight and bias.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {
namespace detail {

// y = (x - mean) rstd * weight + bias over one row; the flags drop the affine parts at
// compile time so the loop stays branch-free and vectorizes.
template <class T, bool kWeight, bool kBias>
void layer_norm_row(const T* x, const T* weight, const T* bias, T* y, int64_t cols, T mean,
                    T rstd) {
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) {
    T v = (x[c] - mean) * rstd;
    if constexpr (kWeight) v *= weight[c];
    if constexpr (kBias) v += bias[c];
    y[c] = v;
  }
}

template <class T>
using LayerNormRow = void (*)(const T*, const T*, const T*, T*, int64_t, T, T);

template <class T>
LayerNormRow<T> layer_norm_row_for(bool weight, bool bias) {
  if (weight) return bias ? layer_norm_row<T, true, true> : layer_norm_row<T, true, false>;
  return bias ? layer_norm_row<T, false, true> : layer_norm_row<T, false, false>;
}

// One row of the backward, with xhat = (x - mean) rstd and gw = g * weight:
//   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))
// and the row's share of dweight (g xhat) and dbias (g) added into the partial sums
// (either may be null).
template <class T, bool kWeight>
void layer_norm_backward_row(const T* x, const T* g, const T* weight, T* dx, T* dweight_partial,
                             T* dbias_partial, int64_t cols, T mean, T rstd) {
  if (dx) {
    T sum_gw = 0, sum_gw_xhat = 0;
#pragma omp simd reduction(+ : sum_gw, sum_gw_xhat)
    for (int64_t c = 0; c < cols; ++c) {
      const T gw = kWeight ? g[c] * weight[c] : g[c];
      sum_gw += gw;
      sum_gw_xhat += gw * (x[c] - mean) * rstd;
    }
    const T mean_gw = sum_gw / static_cast<T>(cols);
    const T mean_gw_xhat = sum_gw_xhat / static_cast<T>(cols);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const T gw = kWeight ? g[c] * weight[c] : g[c];
      const T xhat = (x[c] - mean) * rstd;
      dx[c] = rstd * (gw - mean_gw - xhat * mean_gw_xhat);
    }
  }
  if (dweight_partial) {
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) dweight_partial[c] += g[c] * (x[c] - mean) * rstd;
  }
  if (dbias_partial) {
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) dbias_partial[c] += g[c];
  }
}

}  // namespace detail

// Per row r of x (M, D): mean[r], rstd[r] = 1 / sqrt(biased variance + eps), and
// y = (x - mean) rstd * weight + bias. weight and bias (D) may be null (1 and 0).
template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        int64_t rows, int64_t cols, T eps) {
  const auto normalize = detail::layer_norm_row_for<T>(weight != nullptr, bias != nullptr);
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t r = begin; r < end; ++r) {
                   const T* row = x + r * cols;
                   T sum = 0;
#pragma omp simd reduction(+ : sum)
                   for (int64_t c = 0; c < cols; ++c) sum += row[c];
                   const T mu = sum / static_cast<T>(cols);
                   // Two passes: the variance from centered values does not cancel
                   // catastrophically when |mean| >> std.
                   T squares = 0;
#pragma omp simd reduction(+ : squares)
                   for (int64_t c = 0; c < cols; ++c) squares += (row[c] - mu) * (row[c] - mu);
                   const T inv_std = T(1) / std::sqrt(squares / static_cast<T>(cols) + eps);
                   mean[r] = mu;
                   rstd[r] = inv_std;
                   normalize(row, weight, bias, y + r * cols, cols, mu, inv_std);
                 }
               });
}

// Gradients from upstream g (M, D) and the forward's mean and rstd (M): dx (M, D), and
// dweight = Σ_rows g xhat, dbias = Σ_rows g (D). Any output may be null to skip it;
// weight null means 1. The parameter sums are taken per chunk of rows, then added up.
template <class T>
void layer_norm_backward(const T* x, const T* g, const T* weight, const T* mean, const T* rstd,
                         T* dx, T* dweight, T* dbias, int64_t rows, int64_t cols) {
  const auto backward_row =
      weight ? detail::layer_norm_backward_row<T, true> : detail::layer_norm_backward_row<T, false>;
  // Enough rows per chunk to be worth a thread, at most one chunk per thread.
  const int64_t max_chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1));
  const int64_t chunks = std::clamp<int64_t>(rows * cols / kParallelGrain, 1, max_chunks);
  // Per chunk: dweight partial sums, then dbias partial sums.
  std::vector<T> partial(dweight || dbias ? 2 * chunks * cols : 0, T(0));
  parallel_for(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* dweight_partial = dweight ? partial.data() + 2 * chunk * cols : nullptr;
      T* dbias_partial = dbias ? partial.data() + (2 * chunk + 1) * cols : nullptr;
      for (int64_t r = rows * chunk / chunks; r < rows * (chunk + 1) / chunks; ++r) {
        const int64_t at = r * cols;
        backward_row(x + at, g + at, weight, dx ? dx + at : nullptr, dweight_partial, dbias_partial,
                     cols, mean[r], rstd[r]);
      }
    }
  });
  auto add_partials = [&](T* out, int64_t which) {
    if (!out) return;
    std::fill(out, out + cols, T(0));
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      const T* src = partial.data() + (2 * chunk + which) * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) out[c] += src[c];
    }
  };
  add_partials(dweight, 0);
  add_partials(dbias, 1);
}

}  // namespace torus::cpu
