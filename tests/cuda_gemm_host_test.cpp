// The host-side logic of the cuBLAS GEMM (kernels/cuda/gemm.h), without a GPU: the row-major
// to column-major mapping, checked by running the mapped call through a plain column-major
// GEMM with BLAS's semantics and comparing with a row-major reference, for all four
// transpose combinations, odd sizes and padded strides; the shape checks; pointer alignment.
#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <random>
#include <vector>

#include "kernels/cuda/gemm.h"

namespace torus::cuda {
namespace {

// BLAS's column-major gemm: C = alpha op(A) op(B) + beta C, element (i, j) at i + j * ld.
void column_major_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                       int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p + i * lda] : a[i + p * lda];
        const double bv = tb ? b[j + p * ldb] : b[p + j * ldb];
        acc += av * bv;
      }
      c[i + j * ldc] = alpha * acc + beta * c[i + j * ldc];
    }
  }
}

// The row-major definition of gemm.h: element (r, c) at r * ld + c.
void row_major_gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c) {
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double av = s.trans_a ? a[p * s.lda + i] : a[i * s.lda + p];
        const double bv = s.trans_b ? b[j * s.ldb + p] : b[p * s.ldb + j];
        acc += av * bv;
      }
      c[i * s.ldc + j] = alpha * acc + beta * c[i * s.ldc + j];
    }
  }
}

std::vector<double> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

TEST(CudaGemmMapping, ColumnMajorCallComputesTheRowMajorProduct) {
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const std::initializer_list<std::array<int64_t, 3>> sizes{{1, 1, 1}, {7, 13, 5}, {17, 3, 33}, {2, 9, 1}};
      for (const auto& [m, n, k] : sizes) {
        // Padded row strides, so a mixed-up leading dimension shows.
        const GemmShape s{.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k,
                          .lda = (ta ? m : k) + 3, .ldb = (tb ? k : n) + 2, .ldc = n + 1};
        ASSERT_EQ(gemm_shape_error(s), "");
        const std::vector<double> a = random_values(static_cast<size_t>((ta ? k : m) * s.lda), 1);
        const std::vector<double> b = random_values(static_cast<size_t>((tb ? n : k) * s.ldb), 2);
        std::vector<double> want = random_values(static_cast<size_t>(m * s.ldc), 3);
        std::vector<double> got = want;
        row_major_gemm(s, 1.5, a.data(), b.data(), 0.25, want.data());

        const ColumnMajorGemm g = to_column_major(s);
        column_major_gemm(g.trans_first, g.trans_second, g.m, g.n, g.k, 1.5, b.data(), g.ld_first, a.data(),
                          g.ld_second, 0.25, got.data(), g.ldc);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-12) << "trans_a " << ta << " trans_b " << tb << " m " << m << " n " << n
                                              << " k " << k << " at " << i;
        // The stored operand shapes handed to cuBLASLt's layouts fit their leading dimensions.
        EXPECT_GE(g.ld_first, g.first_rows);
        EXPECT_GE(g.ld_second, g.second_rows);
        EXPECT_EQ(g.trans_first ? g.first_cols : g.first_rows, g.m);
        EXPECT_EQ(g.trans_second ? g.second_rows : g.second_cols, g.n);
      }
    }
  }
}

TEST(CudaGemmMapping, SwapsOperandsAndKeepsEachTransposeFlag) {
  constexpr GemmShape s{.trans_a = true, .trans_b = false, .m = 4, .n = 6, .k = 5, .lda = 4, .ldb = 6, .ldc = 6};
  constexpr ColumnMajorGemm g = to_column_major(s);
  static_assert(g.m == 6 && g.n == 4 && g.k == 5);
  static_assert(!g.trans_first && g.trans_second);
  static_assert(g.ld_first == 6 && g.ld_second == 4 && g.ldc == 6);
  static_assert(g.first_rows == 6 && g.first_cols == 5 && g.second_rows == 4 && g.second_cols == 5);
}

TEST(CudaGemmShape, RejectsShortRowsAndNegativeSizes) {
  const GemmShape ok{.m = 3, .n = 4, .k = 5, .lda = 5, .ldb = 4, .ldc = 4};
  EXPECT_EQ(gemm_shape_error(ok), "");
  GemmShape s = ok;
  s.lda = 4;
  EXPECT_NE(gemm_shape_error(s).find("lda 4 is shorter than a row of A (5)"), std::string::npos);
  s = ok;
  s.trans_b = true;  // B is (n, k) = (4, 5) as stored: rows of 5
  EXPECT_NE(gemm_shape_error(s).find("ldb 4 is shorter than a row of B (5)"), std::string::npos);
  s = ok;
  s.ldc = 3;
  EXPECT_NE(gemm_shape_error(s).find("ldc 3"), std::string::npos);
  s = ok;
  s.k = -1;
  EXPECT_NE(gemm_shape_error(s).find("non-negative"), std::string::npos);
  s = ok;
  s.m = int64_t{1} << 31;
  EXPECT_NE(gemm_shape_error(s).find("32-bit"), std::string::npos);
  // Empty products are valid (strides still at least 1).
  EXPECT_EQ(gemm_shape_error({.m = 0, .n = 4, .k = 0, .lda = 1, .ldb = 4, .ldc = 4}), "");
}

TEST(CudaGemmShape, BatchChecks) {
  EXPECT_EQ(gemm_batch_error({.count = 6, .stride_a = 10, .stride_b = 0, .stride_c = 10}), "");
  EXPECT_NE(gemm_batch_error({.count = 0}).find("batch count 0"), std::string::npos);
  EXPECT_NE(gemm_batch_error({.count = 2, .stride_a = -1}).find("non-negative"), std::string::npos);
}

TEST(CudaGemmShape, PointerAlignment) {
  static_assert(pointer_alignment(0) == 256);
  static_assert(pointer_alignment(4096) == 256);
  static_assert(pointer_alignment(256 + 128) == 128);
  static_assert(pointer_alignment(4096 + 4) == 4);
  static_assert(pointer_alignment(4096 + 2) == 2);
  static_assert(pointer_alignment(7) == 1);
}

}  // namespace
}  // namespace torus::cuda
