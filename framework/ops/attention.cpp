// Causal self-attention over a fused q, k, v projection (the GPT's c_attn output), as one op:
// on a device one call into the attention kernels (cuBLAS strided-batched products around a
// fused scale + mask + softmax, kernels/cuda/attention.h), which keep only the (B H, T, T)
// probabilities for the backward; elsewhere the same computation written with the other ops.
//
// Under bf16 autocast (autocast.h), without dropout, the attention runs in bf16 storage: Q,
// K, V, the scores, the probabilities, the output and every gradient rounded to bf16, the
// products accumulated and the softmax computed in f32. On a device that is the kernels'
// bf16 path (tensor-core GEMMs; half the probabilities' memory); on the cpu an emulation
// that runs the kernels' steps with the same roundings (attention_bf16_emulated), so the two
// differ by the order of f32 sums, the device's exp intrinsic, and the rare bf16 roundings
// those flip. The op's input and output stay f32. With dropout it runs in f32 (the dropout
// kernel is f32 only).
#include <cmath>
#include <limits>

#include "framework/profile/profiler.h"
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// (T, T) u8 with 1 strictly above the diagonal (torch.triu(ones, diagonal=1)), on `device`:
// on a device from two index vectors compared there, rather than T² bytes copied over.
Tensor causal_mask(int64_t t, Device device) {
  if (!device.is_cpu()) {
    const Tensor index = Tensor::arange(t, DType::f32).to(device);
    return gt(index.view({1, t}), index.view({t, 1}));  // column > row
  }
  Tensor mask = Tensor::zeros({t, t}, DType::u8);
  uint8_t* m = mask.data<uint8_t>();
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = i + 1; j < t; ++j) m[i * t + j] = 1;
  return mask;
}

// The composition: per head, softmax(Q Kᵀ / sqrt(D) masked) V, with dropout on the weights.
Tensor attention_by_ops(const Tensor& qkv, int64_t heads, double p, bool training, Generator* gen) {
  const int64_t b = qkv.size(0), t = qkv.size(1), c = qkv.size(2) / 3, d = c / heads;
  const std::vector<Tensor> parts = split(qkv, {c, c, c}, 2);  // 3 x (B, T, C)
  auto by_head = [&](const Tensor& u) { return u.view({b, t, heads, d}).transpose(1, 2); };  // (B, H, T, D)
  const Tensor q = by_head(parts[0]), k = by_head(parts[1]), v = by_head(parts[2]);
  Tensor scores = matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));  // (B, H, T, T)
  scores = masked_fill(scores, causal_mask(t, qkv.device()), -std::numeric_limits<double>::infinity());
  Tensor weights = softmax(scores, -1);
  if (training && p > 0) weights = dropout(weights, p, true, *gen);
  return matmul(weights, v).transpose(1, 2).reshape({b, t, c});  // (B, T, C)
}

// The fused kernels; dropout draws the blocks the composition's dropout would.
Tensor attention_on_device(const Tensor& qkv, int64_t heads, double p, bool training, Generator* gen) {
  cuda_nn_kernels::AttentionDropout drop;
  if (training && p > 0) {
    const int64_t elements = qkv.size(0) * heads * qkv.size(1) * qkv.size(1);
    drop = {p, gen->seed(), gen->reserve(static_cast<uint64_t>((elements + 3) / 4))};
  }
  const Tensor input = qkv.detach().contiguous();
  const cuda_nn_kernels::AttentionForward f = cuda_nn_kernels::causal_attention(input, heads, drop);
  return record("causal_attention", f.y, {qkv}, [input, probs = f.probs, heads, drop](const Tensor& g) {
    return Grads{cuda_nn_kernels::causal_attention_backward(input, probs, g, heads, drop)};
  });
}

// Round to bf16 and back: the value a bf16 buffer would hold.
Tensor bf16_rounded(const Tensor& t) { return t.to(DType::bf16).to(DType::f32); }

// The kernels' bf16 path (attention.cpp's steps, bf16 buffers) on f32 cpu tensors, forward and
// backward: S = Q Kᵀ, P = causal_softmax(S / sqrt(D)), Y = P V; dV = Pᵀ dY, dP = dY Vᵀ,
// dS = P ∘ (dP − rowsum(dP ∘ P)) / sqrt(D), dQ = dS K, dK = dSᵀ Q, each result rounded.
Tensor attention_bf16_emulated(const Tensor& qkv, int64_t heads) {
  const int64_t b = qkv.size(0), t = qkv.size(1), c = qkv.size(2) / 3, d = c / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto by_head = [b, t, heads, d](const Tensor& u) {  // (B, T, C) -> (B, H, T, D)
    return u.contiguous().view({b, t, heads, d}).transpose(1, 2);
  };
  const auto to_rows = [b, t, c](const Tensor& u) { return u.transpose(1, 2).reshape({b, t, c}); };  // and back
  Tensor q, k, v, probs, y;
  {
    NoGradGuard no_grad;
    const std::vector<Tensor> parts = split(bf16_rounded(qkv.detach().contiguous()), {c, c, c}, 2);
    q = by_head(parts[0]);
    k = by_head(parts[1]);
    v = by_head(parts[2]);
    const Tensor scores = bf16_rounded(matmul(q, k.transpose(-2, -1)));
    const Tensor masked =
        masked_fill(scores * scale, causal_mask(t, qkv.device()), -std::numeric_limits<double>::infinity());
    probs = bf16_rounded(softmax(masked, -1));
    y = to_rows(bf16_rounded(matmul(probs, v)));
  }
  return record("causal_attention", y, {qkv}, [q, k, v, probs, scale, by_head, to_rows](const Tensor& g) {
    const AutocastGuard f32_products(DType::f32);  // the operands are rounded already
    const Tensor dy = bf16_rounded(by_head(g));
    const Tensor dv = bf16_rounded(matmul(probs.transpose(-2, -1), dy));
    const Tensor dp = bf16_rounded(matmul(dy, v.transpose(-2, -1)));
    const Tensor ds = bf16_rounded(probs * scale * (dp - sum(dp * probs, {-1}, true)));  // the kernel's order
    const Tensor dq = bf16_rounded(matmul(ds, k));
    const Tensor dk = bf16_rounded(matmul(ds.transpose(-2, -1), q));
    return Grads{concat({to_rows(dq), to_rows(dk), to_rows(dv)}, 2)};
  });
}

// The kernels' bf16 path on a device: qkv rounded to a bf16 copy, the output and the
// gradient converted back to f32.
Tensor attention_bf16_on_device(const Tensor& qkv, int64_t heads) {
  const Tensor input = qkv.detach().to(DType::bf16).contiguous();
  const cuda_nn_kernels::AttentionForward f = cuda_nn_kernels::causal_attention(input, heads, {});
  return record("causal_attention", f.y.to(DType::f32), {qkv}, [input, probs = f.probs, heads](const Tensor& g) {
    return Grads{cuda_nn_kernels::causal_attention_backward(input, probs, g, heads, {}).to(DType::f32)};
  });
}

}  // namespace

Tensor causal_attention(const Tensor& qkv, int64_t heads, double dropout_p, bool training, Generator* gen) {
  TORUS_PROFILE_OP("causal_attention");
  TORUS_CHECK(qkv.dim() == 3 && heads > 0 && qkv.size(2) % (3 * heads) == 0,
              "causal_attention: qkv must be (B, T, 3C) with C a multiple of heads {}, got shape {}", heads,
              qkv.shape_str());
  TORUS_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, "causal_attention: dropout p must be in [0, 1], got {}",
              dropout_p);
  const bool drops = training && dropout_p > 0;
  TORUS_CHECK(!drops || gen != nullptr, "causal_attention: dropout p = {} needs a generator", dropout_p);
  // p = 1 drops everything: the composition's dropout multiplies by zero, the kernel would
  // divide by 1 - p.
  const bool nonempty = qkv.size(0) > 0 && qkv.size(1) > 0;
  const bool in_bf16 = autocast_dtype() == DType::bf16 && qkv.dtype() == DType::f32 && !drops && nonempty;
  const AutocastGuard f32_products(DType::f32);  // the bf16 path rounds where its buffers would
  if (in_bf16)
    return cuda_kernels::on_cuda(qkv) ? attention_bf16_on_device(qkv, heads) : attention_bf16_emulated(qkv, heads);
  const bool fused = cuda_kernels::on_cuda(qkv) && qkv.dtype() == DType::f32 && dropout_p < 1.0 && nonempty;
  return fused ? attention_on_device(qkv, heads, dropout_p, training, gen)
               : attention_by_ops(qkv, heads, dropout_p, training, gen);
}

void register_attention_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  const double r = 1e-4;  // GEMMs and softmax sums
  // PyTorch 1.13 has no scaled_dot_product_attention: the same formula, written out.
  auto torch_attention = [](int b, int t, int h, int d) {
    const int c = h * d;
    return fmt::format(
        "(lambda q, k, v: torch.softmax((q @ k.transpose(-2, -1) * {d} ** -0.5).masked_fill("
        "torch.ones({t}, {t}, dtype=torch.bool).triu(1), float('-inf')), -1) @ v)("
        "*[u.reshape({b}, {t}, {h}, {d}).transpose(1, 2) for u in a.split({c}, 2)]).transpose(1, 2).reshape({b}, {t}, {c})",
        fmt::arg("b", b), fmt::arg("t", t), fmt::arg("h", h), fmt::arg("d", d), fmt::arg("c", c));
  };
  s.push_back({"causal_attention/two_heads", {I::real({2, 5, 18})},
               [](const V& x) { return causal_attention(x[0], 2, 0.0, true, nullptr); }, torch_attention(2, 5, 2, 3),
               r});
  s.push_back({"causal_attention/one_head", {I::real({1, 4, 12})},
               [](const V& x) { return causal_attention(x[0], 1, 0.0, false, nullptr); }, torch_attention(1, 4, 1, 4),
               r});
}

}  // namespace torus
