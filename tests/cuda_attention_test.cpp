// GPU: causal self-attention (kernels/cuda/attention.h) and its causal softmax against a CPU
// reference in double, forward and backward: Q, K, V as views of a (B, T, 3C) buffer (the
// per-b batching) and as contiguous (B, H, T, D) tensors (one batched call), T = 1, T not a
// multiple of 32, T = 257, T > 1024 (block per row), D = 64, bf16 storage, and attention
// dropout with the CPU's Philox mask. The probabilities must be exactly 0 above the
// diagonal and each row must sum to 1.
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/common/error.h"
#include "kernels/common/half.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/causal_softmax.h"
#include "kernels/common/philox.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceArray;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

struct Case {
  int64_t b, h, t, d;
  bool packed;  // Q, K, V in one (B, T, 3C) buffer; else three contiguous (B, H, T, D)
};

std::string name(const Case& c) {
  return "(B " + std::to_string(c.b) + ", H " + std::to_string(c.h) + ", T " + std::to_string(c.t) + ", D " +
         std::to_string(c.d) + (c.packed ? ", packed qkv)" : ", contiguous)");
}

// Element (b, h, i, x) of a (B, H, T, D) operand at `s`.
int64_t at(const HeadStrides& s, int64_t b, int64_t h, int64_t i, int64_t x) {
  return b * s.batch + h * s.head + i * s.row + x;
}

// The CPU's dropout keep rule (framework/ops/dropout.cpp) for element e of the stream.
bool kept(const AttentionDropout& dropout, int64_t e) {
  const PhiloxWords r = philox_block(dropout.seed, dropout.offset + static_cast<uint64_t>(e) / 4);
  return (r.w[e % 4] >> 8) >= static_cast<uint32_t>(std::ceil(dropout.p * 0x1p24));
}

// Everything in double, on the host copies of the device buffers (index maps `shape`'s).
struct Reference {
  std::vector<double> probs, out, grad_q, grad_k, grad_v;  // grad_* in the q/k/v buffers' layout
};

Reference reference(const AttentionShape& s, const std::vector<float>& q_buf, const std::vector<float>& k_buf,
                    const std::vector<float>& v_buf, int64_t q_base, int64_t k_base, int64_t v_base,
                    const std::vector<float>& dy, size_t out_size, const AttentionDropout& dropout) {
  const int64_t T = s.seq, D = s.head_dim;
  const double scale = 1.0 / std::sqrt(double(D));
  const double keep_scale = dropout.p < 1.0 ? double(static_cast<float>(1.0 / (1.0 - dropout.p))) : 0.0;
  Reference r;
  r.probs.assign(static_cast<size_t>(attention_scores_elements(s)), 0.0);
  r.out.assign(out_size, 0.0);
  r.grad_q.assign(q_buf.size(), 0.0);
  r.grad_k.assign(k_buf.size(), 0.0);
  r.grad_v.assign(v_buf.size(), 0.0);
  std::vector<double> p(T * T), pd(T * T), ds(T * T);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t head = (b * s.heads + h) * T * T;
      auto Q = [&](int64_t i, int64_t x) { return double{q_buf[q_base + at(s.q, b, h, i, x)]}; };
      auto K = [&](int64_t i, int64_t x) { return double{k_buf[k_base + at(s.k, b, h, i, x)]}; };
      auto V = [&](int64_t i, int64_t x) { return double{v_buf[v_base + at(s.v, b, h, i, x)]}; };
      auto dY = [&](int64_t i, int64_t x) { return double{dy[at(s.out, b, h, i, x)]}; };
      for (int64_t i = 0; i < T; ++i) {
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t x = 0; x < D; ++x) dot += Q(i, x) * K(j, x);
          p[i * T + j] = dot * scale;
          max = std::max(max, p[i * T + j]);
        }
        for (int64_t j = 0; j <= i; ++j) sum += std::exp(p[i * T + j] - max);
        for (int64_t j = 0; j < T; ++j) {
          p[i * T + j] = j <= i ? std::exp(p[i * T + j] - max) / sum : 0.0;
          const bool keep = dropout.p == 0.0 || kept(dropout, head + i * T + j);
          pd[i * T + j] = dropout.p == 0.0 ? p[i * T + j] : (keep ? p[i * T + j] * keep_scale : 0.0);
          r.probs[head + i * T + j] = p[i * T + j];
        }
        for (int64_t x = 0; x < D; ++x) {
          double acc = 0;
          for (int64_t j = 0; j <= i; ++j) acc += pd[i * T + j] * V(j, x);
          r.out[at(s.out, b, h, i, x)] = acc;
        }
      }
      // Backward: dV = P̃ᵀ dY, dP = mask ∘ (dY Vᵀ), dS = scale P ∘ (dP − rowsum(dP ∘ P)).
      for (int64_t j = 0; j < T; ++j)
        for (int64_t x = 0; x < D; ++x) {
          double acc = 0;
          for (int64_t i = j; i < T; ++i) acc += pd[i * T + j] * dY(i, x);
          r.grad_v[v_base + at(s.v, b, h, j, x)] = acc;
        }
      for (int64_t i = 0; i < T; ++i) {
        double dot = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double dp = 0;
          for (int64_t x = 0; x < D; ++x) dp += dY(i, x) * V(j, x);
          if (dropout.p > 0.0) dp = kept(dropout, head + i * T + j) ? dp * keep_scale : 0.0;
          ds[i * T + j] = dp;
          dot += dp * p[i * T + j];
        }
        for (int64_t j = 0; j <= i; ++j) ds[i * T + j] = scale * p[i * T + j] * (ds[i * T + j] - dot);
      }
      for (int64_t i = 0; i < T; ++i)
        for (int64_t x = 0; x < D; ++x) {
          double gq = 0, gk = 0;
          for (int64_t j = 0; j <= i; ++j) gq += ds[i * T + j] * K(j, x);
          for (int64_t j = i; j < T; ++j) gk += ds[j * T + i] * Q(j, x);
          r.grad_q[q_base + at(s.q, b, h, i, x)] = gq;
          r.grad_k[k_base + at(s.k, b, h, i, x)] = gk;
        }
    }
  }
  return r;
}

std::vector<float> float_of(const std::vector<BFloat16>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return out;
}

std::vector<BFloat16> bf16_of(const std::vector<float>& values) {
  std::vector<BFloat16> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = BFloat16(values[i]);
  return out;
}

// Rounds to bf16 and back, so the reference sees the bf16 inputs exactly.
std::vector<float> rounded(const std::vector<float>& values) { return float_of(bf16_of(values)); }

class AttentionTest : public testing::CudaBlasTest {
 protected:

  void check(const Case& c, BlasDtype dtype = BlasDtype::f32, const AttentionDropout& dropout = {}) {
    const int64_t C = c.h * c.d;
    AttentionShape s{.batch = c.b, .heads = c.h, .seq = c.t, .head_dim = c.d};
    // Packed: one (B, T, 3C) buffer, k and v C and 2C elements in. Contiguous: three buffers.
    const size_t operand = static_cast<size_t>(c.b * c.t * C);
    const size_t qkv_size = c.packed ? 3 * operand : operand;
    s.q = s.k = s.v = c.packed ? qkv_head_strides(c.t, c.h, c.d) : contiguous_head_strides(c.t, c.h, c.d);
    s.out = out_head_strides(c.t, c.h, c.d);
    const int64_t k_base = c.packed ? C : 0, v_base = c.packed ? 2 * C : 0;
    const bool bf16 = dtype == BlasDtype::bf16;
    auto input = [&](uint32_t seed, size_t n) {
      std::vector<float> x = random_vector(n, seed, -1.0f, 1.0f);
      return bf16 ? rounded(x) : x;
    };
    const std::vector<float> q = input(1, qkv_size);
    const std::vector<float> k = c.packed ? q : input(2, qkv_size);
    const std::vector<float> v = c.packed ? q : input(3, qkv_size);
    const std::vector<float> dy = input(4, operand);
    const Reference want = reference(s, q, k, v, 0, k_base, v_base, dy, operand, dropout);

    const size_t n_scores = static_cast<size_t>(attention_scores_elements(s));
    std::vector<float> probs, out, gq, gk, gv;
    if (!bf16) {
      run<float>(s, dtype, q, k, v, dy, c.packed, k_base, v_base, n_scores, operand, dropout, probs, out, gq, gk, gv);
    } else {
      run<BFloat16>(s, dtype, q, k, v, dy, c.packed, k_base, v_base, n_scores, operand, dropout, probs, out, gq, gk,
                    gv);
    }
    const std::string what = name(c) + (bf16 ? " bf16" : " f32") + (dropout.p > 0 ? " dropout" : "");
    // The probabilities: exact zeros above the diagonal, rows summing to 1.
    for (int64_t r = 0; r < c.b * c.h * c.t; ++r) {
      const int64_t i = r % c.t;
      double sum = 0;
      for (int64_t j = 0; j < c.t; ++j) {
        const float pv = probs[static_cast<size_t>(r * c.t + j)];
        if (j > i) {
          ASSERT_EQ(pv, 0.0f) << what << ": probs row " << r << " column " << j << " above the diagonal";
        }
        sum += pv;
      }
      ASSERT_NEAR(sum, 1.0, bf16 ? 2e-2 : 1e-5) << what << ": probs row " << r;
    }
    const double atol = bf16 ? 2e-2 : 2e-5, rtol = bf16 ? 3e-2 : 1e-4;
    expect_close(probs, want.probs, atol, rtol, what + " probs");
    expect_close(out, want.out, atol, rtol, what + " out");
    if (c.packed) {
      // dQ, dK, dV share one (B, T, 3C) gradient buffer, each in its columns.
      std::vector<double> grad(want.grad_q.size());
      for (size_t i = 0; i < grad.size(); ++i) grad[i] = want.grad_q[i] + want.grad_k[i] + want.grad_v[i];
      expect_close(gq, grad, atol, rtol, what + " grad qkv");
    } else {
      expect_close(gq, want.grad_q, atol, rtol, what + " grad q");
      expect_close(gk, want.grad_k, atol, rtol, what + " grad k");
      expect_close(gv, want.grad_v, atol, rtol, what + " grad v");
    }
  }

  // Runs forward and backward with storage type T; the results come back as floats. When
  // packed, the gradients go to one buffer (gq) and gk, gv stay empty.
  template <class T>
  void run(const AttentionShape& s, BlasDtype dtype, const std::vector<float>& q, const std::vector<float>& k,
           const std::vector<float>& v, const std::vector<float>& dy, bool packed, int64_t k_base, int64_t v_base,
           size_t n_scores, size_t operand, const AttentionDropout& dropout, std::vector<float>& probs,
           std::vector<float>& out, std::vector<float>& gq, std::vector<float>& gk, std::vector<float>& gv) {
    auto upload = [](const std::vector<float>& x) {
      if constexpr (std::is_same_v<T, float>) return std::make_unique<DeviceArray<T>>(x);
      else return std::make_unique<DeviceArray<T>>(bf16_of(x));
    };
    auto download = [](const DeviceArray<T>& x) {
      if constexpr (std::is_same_v<T, float>) return x.download();
      else return float_of(x.download());
    };
    const auto dq = upload(q), dk = packed ? nullptr : upload(k), dv = packed ? nullptr : upload(v);
    const T* q_ptr = dq->get();
    const T* k_ptr = packed ? q_ptr + k_base : dk->get();
    const T* v_ptr = packed ? q_ptr + v_base : dv->get();
    DeviceArray<T> d_probs(n_scores), d_out(operand), d_scratch(n_scores), d_dropped(dropout.p > 0 ? n_scores : 0);
    causal_attention_forward(*handles_, s, dtype, q_ptr, k_ptr, v_ptr, d_probs.get(), d_out.get(), dropout,
                             dropout.p > 0 ? d_dropped.get() : nullptr);
    const auto d_dy = upload(dy);
    // Zeroed gradient buffers: what the backward does not write must stay 0.
    const std::vector<float> zeros(q.size(), 0.0f);
    const auto g_q = upload(zeros), g_k = packed ? nullptr : upload(zeros), g_v = packed ? nullptr : upload(zeros);
    T* gq_ptr = g_q->get();
    T* gk_ptr = packed ? gq_ptr + k_base : g_k->get();
    T* gv_ptr = packed ? gq_ptr + v_base : g_v->get();
    causal_attention_backward(*handles_, s, dtype, q_ptr, k_ptr, v_ptr, d_probs.get(), d_dy->get(), d_scratch.get(),
                              gq_ptr, gk_ptr, gv_ptr, dropout);
    sync();
    probs = download(d_probs);
    out = download(d_out);
    gq = download(*g_q);
    if (!packed) {
      gk = download(*g_k);
      gv = download(*g_v);
    }
  }
};

TEST_F(AttentionTest, SingleToken) {
  check({1, 1, 1, 8, true});
  check({2, 3, 1, 4, false});
}

TEST_F(AttentionTest, PackedQkvOddLengths) {
  check({2, 3, 37, 16, true});   // T not a multiple of 32
  check({3, 2, 257, 64, true});  // per-h calls (H < B), D = 64
  check({1, 4, 100, 32, true});  // B = 1: one call over the heads
}

TEST_F(AttentionTest, ContiguousHeadsOneBatchedCall) {
  check({2, 3, 33, 16, false});
  check({2, 2, 257, 64, false});
}

TEST_F(AttentionTest, BlockPerRowBeyond1024) { check({1, 1, 1030, 16, true}); }

TEST_F(AttentionTest, Bf16Storage) {
  check({2, 3, 37, 16, true}, BlasDtype::bf16);
  check({1, 2, 257, 64, false}, BlasDtype::bf16);
}

TEST_F(AttentionTest, DropoutUsesTheCpuMask) {
  check({2, 3, 37, 16, true}, BlasDtype::f32, {.p = 0.25, .seed = 1234, .offset = 77});
  check({1, 2, 65, 32, false}, BlasDtype::f32, {.p = 0.5, .seed = 9, .offset = 0});
}

TEST_F(AttentionTest, RejectsBf16Dropout) {
  const AttentionShape s{.batch = 1, .heads = 1, .seq = 4, .head_dim = 4, .q = contiguous_head_strides(4, 1, 4),
                         .k = contiguous_head_strides(4, 1, 4), .v = contiguous_head_strides(4, 1, 4),
                         .out = out_head_strides(4, 1, 4)};
  DeviceArray<BFloat16> buf(64);
  EXPECT_THROW(causal_attention_forward(*handles_, s, BlasDtype::bf16, buf.get(), buf.get(), buf.get(), buf.get(),
                                        buf.get(), {.p = 0.1, .seed = 1, .offset = 0}, buf.get()),
               ValueError);
}

// The kernel alone: garbage (NaN) above the diagonal of the scores is never read.
TEST_F(AttentionTest, CausalSoftmaxIgnoresMaskedScores) {
  const int64_t bh = 3, t = 45;
  std::vector<float> x = random_vector(static_cast<size_t>(bh * t * t), 5);
  for (int64_t r = 0; r < bh * t; ++r)
    for (int64_t j = r % t + 1; j < t; ++j) x[static_cast<size_t>(r * t + j)] = NAN;
  const std::vector<float> g = random_vector(x.size(), 6);
  DeviceBuffer dx(x), dp(x.size()), dg(g), ds(x.size());
  const float scale = 0.3f;
  causal_softmax_forward(dx.get(), dp.get(), bh, t, scale, stream_);
  causal_softmax_backward(dp.get(), dg.get(), ds.get(), bh, t, scale, stream_);
  sync();
  std::vector<double> want_p(x.size(), 0.0), want_s(x.size(), 0.0);
  for (int64_t r = 0; r < bh * t; ++r) {
    const int64_t i = r % t;
    const size_t base = static_cast<size_t>(r * t);
    double max = -INFINITY, sum = 0, dot = 0;
    for (int64_t j = 0; j <= i; ++j) max = std::max(max, scale * double{x[base + j]});
    for (int64_t j = 0; j <= i; ++j) sum += std::exp(scale * double{x[base + j]} - max);
    for (int64_t j = 0; j <= i; ++j) want_p[base + j] = std::exp(scale * double{x[base + j]} - max) / sum;
    for (int64_t j = 0; j <= i; ++j) dot += g[base + j] * want_p[base + j];
    for (int64_t j = 0; j <= i; ++j) want_s[base + j] = scale * want_p[base + j] * (g[base + j] - dot);
  }
  expect_close(dp.download(), want_p, 1e-6, 1e-4, "causal_softmax_forward");
  expect_close(ds.download(), want_s, 1e-6, 1e-4, "causal_softmax_backward");
}

}  // namespace
}  // namespace torus::cuda
