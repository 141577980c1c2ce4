// Fused cross-entropy over the rows of contiguous logits (M, C) with class-index targets
// and label smoothing: per-row log-sum-exp and loss forward, softmax minus the smoothed
// one-hot backward, never materializing the log-probabilities.
#pragma once

#include "kernels/common/vector_math.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

// What one pass over the targets found: how many count towards the mean, and the first
// target (by position) neither in [0, C) nor equal to ignore_index, or -1.
struct TargetScan {
  int64_t counted = 0;
  int64_t first_invalid = -1;
};

template <class Index>
TargetScan scan_targets(const Index* target, int64_t rows, int64_t classes, int64_t ignore_index) {
  TargetScan scan;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = target[i];
    if (t == ignore_index) continue;
    if (t < 0 || t >= classes) {
      scan.first_invalid = i;
      return scan;
    }
    ++scan.counted;
  }
  return scan;
}

// For each row i whose target t (validated by scan_targets) is not ignored:
//   lse[i]  = log Σ_c exp(x[i, c])
//   loss[i] = (1 - eps) (lse - x[i, t]) + eps (lse - mean_c x[i, c])
// i.e. -log p_t mixed with the mean of -log p_c over all classes. Ignored rows get loss 0.
template <class T, class Index>
void cross_entropy_forward(const T* logits, const Index* target, T* lse, T* loss, int64_t rows,
                           int64_t classes, int64_t ignore_index, T smoothing) {
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(classes, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) {
                   const int64_t t = target[i];
                   if (t == ignore_index) {
                     loss[i] = 0;
                     continue;
                   }
                   const T* x = logits + i * classes;
                   T max = -std::numeric_limits<T>::infinity(), total = 0;
#pragma omp simd reduction(max : max) reduction(+ : total)
                   for (int64_t c = 0; c < classes; ++c) {
                     max = x[c] > max ? x[c] : max;
                     total += x[c];
                   }
                   T sum_exp = 0;
                   for (int64_t c = 0; c < classes; ++c) sum_exp += fn::vexp(x[c] - max);
                   const T log_sum_exp = max + std::log(sum_exp);
                   const T mean_logit = total / static_cast<T>(classes);
                   lse[i] = log_sum_exp;
                   loss[i] = (T(1) - smoothing) * (log_sum_exp - x[t]) +
                             smoothing * (log_sum_exp - mean_logit);
                 }
               });
}

// grad[i, c] = scale (softmax(x)[i, c] - (1 - eps) [c == t] - eps / C), with softmax
// recomputed from the saved lse; rows with an ignored target get 0. `scale` is the
// upstream gradient over the count of targets (the mean's divisor).
template <class T, class Index>
void cross_entropy_backward(const T* logits, const Index* target, const T* lse, T* grad,
                            int64_t rows, int64_t classes, int64_t ignore_index, T smoothing,
                            T scale) {
  const T uniform = classes > 0 ? smoothing / static_cast<T>(classes) : T(0);
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(classes, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) {
                   T* out = grad + i * classes;
                   const int64_t t = target[i];
                   if (t == ignore_index) {
                     std::fill(out, out + classes, T(0));
                     continue;
                   }
                   const T* x = logits + i * classes;
                   const T shift = lse[i];
                   for (int64_t c = 0; c < classes; ++c)
                     out[c] = scale * (fn::vexp(x[c] - shift) - uniform);
                   out[t] -= scale * (T(1) - smoothing);
                 }
               });
}

}  // namespace torus::cpu
