// GPU: the cuBLAS / cuBLASLt GEMM (kernels/cuda/gemm.h) against a double-precision CPU
// reference: all four transpose combinations at odd sizes with padded strides, beta, the
// strided batch (attention's (T, T) scores), the bias and GELU+bias epilogues of Linear
// forward (also from unaligned pointers), bf16 inputs, and TF32 only when asked for.
// Tolerances: with TF32 off the f32 result must match to ~1e-5 relative, which TF32's
// 10-bit mantissa (~1e-3) would miss.
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/common/error.h"
#include "kernels/cuda/gemm.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

// Row-major reference in double (the definition in gemm.h); c holds beta's input.
std::vector<double> reference(const GemmShape& s, double alpha, const std::vector<float>& a,
                              const std::vector<float>& b, double beta, const std::vector<float>& c,
                              size_t a_offset = 0, size_t b_offset = 0, size_t c_offset = 0) {
  std::vector<double> out(c.begin(), c.end());
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double av = s.trans_a ? a[a_offset + p * s.lda + i] : a[a_offset + i * s.lda + p];
        const double bv = s.trans_b ? b[b_offset + j * s.ldb + p] : b[b_offset + p * s.ldb + j];
        acc += av * bv;
      }
      const size_t at = c_offset + static_cast<size_t>(i * s.ldc + j);
      out[at] = alpha * acc + (beta == 0 ? 0.0 : beta * c[at]);
    }
  }
  return out;
}

GemmShape padded_shape(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  return {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .lda = (ta ? m : k) + 3,
          .ldb = (tb ? k : n) + 1, .ldc = n + 2};
}
size_t a_size(const GemmShape& s) { return static_cast<size_t>((s.trans_a ? s.k : s.m) * s.lda); }
size_t b_size(const GemmShape& s) { return static_cast<size_t>((s.trans_b ? s.n : s.k) * s.ldb); }
size_t c_size(const GemmShape& s) { return static_cast<size_t>(s.m * s.ldc); }

double gelu_tanh(double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

// bf16 by round-to-nearest-even of the f32 bits, as __float2bfloat16 does.
uint16_t to_bf16(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, sizeof(u));
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f = 0;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// bf16 values on the device.
class DeviceBf16 {
 public:
  explicit DeviceBf16(const std::vector<uint16_t>& values) : n_(values.size()) {
    TORUS_CUDA(cudaMalloc(&ptr_, n_ * sizeof(uint16_t) + 1));
    TORUS_CUDA(cudaMemcpy(ptr_, values.data(), n_ * sizeof(uint16_t), cudaMemcpyHostToDevice));
  }
  ~DeviceBf16() { (void)cudaFree(ptr_); }
  DeviceBf16(const DeviceBf16&) = delete;
  DeviceBf16& operator=(const DeviceBf16&) = delete;
  void* get() { return ptr_; }
  std::vector<uint16_t> download() {
    std::vector<uint16_t> values(n_);
    TORUS_CUDA(cudaMemcpy(values.data(), ptr_, n_ * sizeof(uint16_t), cudaMemcpyDeviceToHost));
    return values;
  }

 private:
  void* ptr_ = nullptr;
  size_t n_;
};

class GemmTest : public testing::CudaBlasTest {
 protected:

  void check_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta, GemmMath math,
                  double atol, double rtol) {
    const GemmShape s = padded_shape(ta, tb, m, n, k);
    const std::vector<float> a = random_vector(a_size(s), 1, -1, 1), b = random_vector(b_size(s), 2, -1, 1);
    std::vector<float> c = random_vector(c_size(s), 3, -1, 1);
    if (beta == 0.0f) c.assign(c.size(), NAN);  // beta = 0 must not read C
    DeviceBuffer da(a), db(b), dc(c);
    gemm(*handles_, s, alpha, da.get(), db.get(), beta, dc.get(), math);
    sync();
    std::vector<double> want = reference(s, alpha, a, b, beta, c);
    std::vector<float> got = dc.download();
    // Only C's rows' first n elements are written; the padding keeps its input.
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = s.n; j < s.ldc; ++j) {
        want[static_cast<size_t>(i * s.ldc + j)] = 0;
        got[static_cast<size_t>(i * s.ldc + j)] = 0;
      }
    }
    expect_close(got, want, atol * std::sqrt(double(k)), rtol,
                 "gemm ta " + std::to_string(ta) + " tb " + std::to_string(tb) + " (" + std::to_string(m) + ", " +
                     std::to_string(n) + ", " + std::to_string(k) + ")");
  }
};

TEST_F(GemmTest, AllTransposeCombinationsOddSizes) {
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const auto& size : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {7, 13, 5}, {33, 17, 65}, {129, 96, 64}})
        check_gemm(ta, tb, size[0], size[1], size[2], 1.5f, 0.5f, GemmMath::f32, 2e-6, 1e-5);
}

TEST_F(GemmTest, BetaZeroIgnoresC) {
  check_gemm(false, true, 31, 7, 19, 1.0f, 0.0f, GemmMath::f32, 2e-6, 1e-5);
}

TEST_F(GemmTest, EmptyKScalesC) {
  check_gemm(false, false, 5, 6, 0, 1.0f, 2.0f, GemmMath::f32, 0, 1e-6);
}

// TF32 only when asked for: the same product with TF32 on lands within TF32's tolerance.
TEST_F(GemmTest, Tf32WhenAskedFor) {
  check_gemm(false, false, 64, 64, 256, 1.0f, 0.0f, GemmMath::tf32, 1e-3, 1e-2);
}

TEST_F(GemmTest, StridedBatchedAttentionScores) {
  // scores (BH, T, T) = q (BH, T, hs) · k (BH, T, hs)ᵀ, then out (BH, T, hs) = scores · v.
  const int64_t bh = 6, t = 17, hs = 8;
  const std::vector<float> q = random_vector(static_cast<size_t>(bh * t * hs), 4, -1, 1);
  const std::vector<float> k = random_vector(q.size(), 5, -1, 1);
  const std::vector<float> v = random_vector(q.size(), 6, -1, 1);
  DeviceBuffer dq(q), dk(k), dv(v), dscores(static_cast<size_t>(bh * t * t)), dout(q.size());
  const GemmShape scores{.trans_a = false, .trans_b = true, .m = t, .n = t, .k = hs, .lda = hs, .ldb = hs, .ldc = t};
  gemm_strided_batched(*handles_, scores, {.count = bh, .stride_a = t * hs, .stride_b = t * hs, .stride_c = t * t},
                       0.25f, dq.get(), dk.get(), 0.0f, dscores.get());
  const GemmShape mix{.m = t, .n = hs, .k = t, .lda = t, .ldb = hs, .ldc = hs};
  gemm_strided_batched(*handles_, mix, {.count = bh, .stride_a = t * t, .stride_b = t * hs, .stride_c = t * hs}, 1.0f,
                       dscores.get(), dv.get(), 0.0f, dout.get());
  sync();
  const std::vector<float> got_scores = dscores.download();
  std::vector<double> want_scores(got_scores.size()), want_out(q.size());
  for (int64_t i = 0; i < bh; ++i) {
    const size_t qo = static_cast<size_t>(i * t * hs), so = static_cast<size_t>(i * t * t);
    const std::vector<float> zero_s(static_cast<size_t>(t * t), 0.0f), zero_o(static_cast<size_t>(t * hs), 0.0f);
    const std::vector<double> s = reference(scores, 0.25, q, k, 0.0, zero_s, qo, qo, 0);
    std::copy(s.begin(), s.end(), want_scores.begin() + static_cast<std::ptrdiff_t>(so));
    // The second product from the kernel's own scores, so each check covers one GEMM.
    const std::vector<double> o = reference(mix, 1.0, got_scores, v, 0.0, zero_o, so, qo, 0);
    std::copy(o.begin(), o.end(), want_out.begin() + static_cast<std::ptrdiff_t>(qo));
  }
  expect_close(got_scores, want_scores, 1e-5, 1e-5, "scores");
  expect_close(dout.download(), want_out, 1e-5, 1e-5, "scores · v");
}

TEST_F(GemmTest, BatchedAllCombinations) {
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const GemmShape s = padded_shape(ta, tb, 9, 5, 11);
      const GemmBatch batch{.count = 3, .stride_a = static_cast<int64_t>(a_size(s)) + 4,
                            .stride_b = static_cast<int64_t>(b_size(s)), .stride_c = static_cast<int64_t>(c_size(s))};
      const std::vector<float> a = random_vector(static_cast<size_t>(batch.stride_a * 3), 7, -1, 1);
      const std::vector<float> b = random_vector(b_size(s) * 3, 8, -1, 1);
      const std::vector<float> c = random_vector(c_size(s) * 3, 9, -1, 1);
      DeviceBuffer da(a), db(b), dc(c);
      gemm_strided_batched(*handles_, s, batch, 1.0f, da.get(), db.get(), 1.0f, dc.get());
      sync();
      std::vector<double> want(c.begin(), c.end());
      for (int64_t i = 0; i < 3; ++i) {
        const std::vector<double> one = reference(s, 1.0, a, b, 1.0, c, static_cast<size_t>(i * batch.stride_a),
                                                  static_cast<size_t>(i * batch.stride_b),
                                                  static_cast<size_t>(i * batch.stride_c));
        for (size_t j = 0; j < c_size(s); ++j) {
          const size_t at = static_cast<size_t>(i * batch.stride_c) + j;
          want[at] = one[at];
        }
      }
      expect_close(dc.download(), want, 1e-5, 1e-5, "batched ta " + std::to_string(ta) + " tb " + std::to_string(tb));
    }
  }
}

// Linear forward through cuBLASLt: y = x Wᵀ + b, and gelu(x Wᵀ + b), at odd sizes and from
// pointers 4 bytes past an alignment boundary (cuBLASLt must be told, or picks a kernel that
// needs 16).
TEST_F(GemmTest, LinearBiasEpilogues) {
  for (const size_t offset : {size_t{0}, size_t{1}}) {
    for (const bool gelu : {false, true}) {
      const int64_t rows = 37, in = 19, out = 23;
      const std::vector<float> x = random_vector(static_cast<size_t>(rows * in), 10, -1, 1);
      const std::vector<float> w = random_vector(static_cast<size_t>(out * in), 11, -1, 1);
      const std::vector<float> bias = random_vector(static_cast<size_t>(out), 12, -1, 1);
      DeviceBuffer dx(x, offset), dw(w, offset), dbias(bias, offset), dy(static_cast<size_t>(rows * out), offset);
      linear_forward(*handles_, dx.get(), dw.get(), dbias.get(), dy.get(), rows, in, out, gelu);
      sync();
      std::vector<double> want(static_cast<size_t>(rows * out));
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          double acc = bias[static_cast<size_t>(o)];
          for (int64_t i = 0; i < in; ++i) acc += double{x[static_cast<size_t>(r * in + i)]} * w[static_cast<size_t>(o * in + i)];
          want[static_cast<size_t>(r * out + o)] = gelu ? gelu_tanh(acc) : acc;
        }
      }
      expect_close(dy.download(), want, 1e-5, 1e-5,
                   std::string(gelu ? "gelu_bias" : "bias") + " offset " + std::to_string(offset));
    }
  }
}

TEST_F(GemmTest, EpilogueAllCombinations) {
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const GemmShape s = padded_shape(ta, tb, 13, 10, 7);
      const std::vector<float> a = random_vector(a_size(s), 13, -1, 1), b = random_vector(b_size(s), 14, -1, 1);
      const std::vector<float> bias = random_vector(static_cast<size_t>(s.n), 15, -1, 1);
      std::vector<float> zero(c_size(s), 0.0f);
      DeviceBuffer da(a), db(b), dbias(bias), dc(zero);
      gemm_epilogue(*handles_, s, da.get(), db.get(), dbias.get(), dc.get(), GemmEpilogue::bias);
      sync();
      std::vector<double> want = reference(s, 1.0, a, b, 0.0, zero);
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) want[static_cast<size_t>(i * s.ldc + j)] += bias[static_cast<size_t>(j)];
      expect_close(dc.download(), want, 1e-5, 1e-5, "epilogue ta " + std::to_string(ta) + " tb " + std::to_string(tb));
    }
  }
}

// bf16 A and B, f32 accumulation: exact products of the rounded inputs, so an f32 output
// matches the double reference of the rounded values tightly; a bf16 output to its rounding.
TEST_F(GemmTest, Bf16InputsAccumulateInF32) {
  const GemmShape s = padded_shape(false, true, 21, 18, 40);
  std::vector<float> a = random_vector(a_size(s), 16, -1, 1), b = random_vector(b_size(s), 17, -1, 1);
  std::vector<uint16_t> a16(a.size()), b16(b.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = from_bf16(a16[i] = to_bf16(a[i]));
  for (size_t i = 0; i < b.size(); ++i) b[i] = from_bf16(b16[i] = to_bf16(b[i]));
  DeviceBf16 da(a16), db(b16);
  const std::vector<float> zero(c_size(s), 0.0f);
  const std::vector<double> want = reference(s, 1.0, a, b, 0.0, zero);

  DeviceBuffer dc(zero);
  gemm(*handles_, s, GemmTypes{.inputs = BlasDtype::bf16, .output = BlasDtype::f32}, 1.0f, da.get(), db.get(), 0.0f,
       dc.get());
  sync();
  expect_close(dc.download(), want, 1e-5, 1e-5, "bf16 -> f32");

  DeviceBf16 dc16(std::vector<uint16_t>(c_size(s), 0));
  gemm(*handles_, s, GemmTypes{.inputs = BlasDtype::bf16, .output = BlasDtype::bf16}, 1.0f, da.get(), db.get(), 0.0f,
       dc16.get());
  sync();
  std::vector<float> got;
  for (const uint16_t h : dc16.download()) got.push_back(from_bf16(h));
  expect_close(got, want, 1e-3, 8e-3, "bf16 -> bf16");
}

TEST_F(GemmTest, BadArgumentsThrowValueErrors) {
  DeviceBuffer d(16);
  const GemmShape short_lda{.m = 2, .n = 2, .k = 4, .lda = 3, .ldb = 2, .ldc = 2};
  EXPECT_THROW(gemm(*handles_, short_lda, 1.0f, d.get(), d.get(), 0.0f, d.get()), ValueError);
  const GemmShape ok{.m = 2, .n = 2, .k = 2, .lda = 2, .ldb = 2, .ldc = 2};
  EXPECT_THROW(gemm(*handles_, ok, GemmTypes{.inputs = BlasDtype::bf16}, 1.0f, d.get(), d.get(), 0.0f, d.get(),
                    GemmMath::tf32),
               ValueError);
  EXPECT_THROW(gemm_strided_batched(*handles_, ok, {.count = 0}, 1.0f, d.get(), d.get(), 0.0f, d.get()), ValueError);
  EXPECT_THROW(gemm_epilogue(*handles_, ok, d.get(), d.get(), nullptr, d.get(), GemmEpilogue::bias), ValueError);
}

}  // namespace
}  // namespace torus::cuda
