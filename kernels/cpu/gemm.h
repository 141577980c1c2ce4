// Row-major GEMM: C = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ.
// f32 goes to oneDNN's sgemm (measured fastest here, and it shares our OpenMP pool:
// see bench/README.md); f64, used for gradient checks, to a plain blocked loop.
#pragma once

#include <cstdint>

namespace torus::cpu {

struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;     // C is m x n, op(A) m x k, op(B) k x n
  int64_t lda = 0, ldb = 0, ldc = 0;  // row strides of A, B, C as stored
};

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta,
          double* c);

}  // namespace torus::cpu
