// GEMM backends (see gemm.h).
#include "kernels/cpu/gemm.h"

#include <algorithm>

#include <dnnl.h>

#include "kernels/common/error.h"
#include "kernels/cpu/parallel.h"

namespace torus::cpu {

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
  if (s.m == 0 || s.n == 0) return;
  num_threads();  // make sure the pool size is applied before oneDNN reads it
  dnnl_status_t status = dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k,
                                    alpha, a, s.lda, b, s.ldb, beta, c, s.ldc);
  if (status != dnnl_success)
    throw Error(fmt::format("dnnl_sgemm(m={}, n={}, k={}) failed with status {}", s.m, s.n, s.k,
                            static_cast<int>(status)));
}

void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta,
          double* c) {
  if (s.m == 0 || s.n == 0) return;
  auto at = [&](int64_t i, int64_t p) { return s.trans_a ? a[p * s.lda + i] : a[i * s.lda + p]; };
  auto bt = [&](int64_t p, int64_t j) { return s.trans_b ? b[j * s.ldb + p] : b[p * s.ldb + j]; };
  parallel_for(s.m, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(s.n * s.k, 1)),
               [&](int64_t i0, int64_t i1) {
                 for (int64_t i = i0; i < i1; ++i) {
                   double* row = c + i * s.ldc;
                   for (int64_t j = 0; j < s.n; ++j) row[j] = beta == 0.0 ? 0.0 : beta * row[j];
                   for (int64_t p = 0; p < s.k; ++p) {
                     const double scale = alpha * at(i, p);
                     for (int64_t j = 0; j < s.n; ++j) row[j] += scale * bt(p, j);
                   }
                 }
               });
}

}  // namespace torus::cpu
