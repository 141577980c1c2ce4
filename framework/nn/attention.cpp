// Causal self-attention (see attention.h).
#include "framework/nn/attention.h"

#include <cmath>
#include <limits>

#include "framework/ops/ops.h"

namespace torus::nn {
namespace {

// (T, T) u8 with 1 strictly above the diagonal (torch.triu(ones, diagonal=1)).
Tensor causal_mask(int64_t context) {
  Tensor mask = Tensor::zeros({context, context}, DType::u8);
  uint8_t* m = mask.data<uint8_t>();
  for (int64_t i = 0; i < context; ++i)
    for (int64_t j = i + 1; j < context; ++j) m[i * context + j] = 1;
  return mask;
}

}  // namespace

CausalSelfAttention::CausalSelfAttention(const AttentionOptions& options, Generator& gen,
                                         std::shared_ptr<Generator> dropout_gen)
    : options_(options) {
  TORUS_CHECK(options.d_model > 0 && options.heads > 0 && options.d_model % options.heads == 0,
              "CausalSelfAttention: d_model {} must be a positive multiple of heads {}", options.d_model,
              options.heads);
  TORUS_CHECK(options.context > 0, "CausalSelfAttention: context must be positive, got {}", options.context);
  const int64_t c = options.d_model;
  c_attn_ = register_module("c_attn", std::make_shared<Linear>(c, 3 * c, gen, true, options.dtype));
  c_proj_ = register_module("c_proj", std::make_shared<Linear>(c, c, gen, true, options.dtype));
  attn_dropout_ = register_module("attn_dropout", std::make_shared<Dropout>(options.dropout, dropout_gen));
  resid_dropout_ = register_module("resid_dropout", std::make_shared<Dropout>(options.dropout, dropout_gen));
  mask_ = causal_mask(options.context);
}

Tensor CausalSelfAttention::forward(const Tensor& x) const {
  const int64_t c = options_.d_model, h = options_.heads, d = c / h;
  TORUS_CHECK(x.dim() == 3 && x.size(2) == c && x.size(1) <= options_.context,
              "CausalSelfAttention(d_model {}, heads {}, context {}): input must be (B, T <= {}, {}), "
              "got shape {}",
              c, h, options_.context, options_.context, c, x.shape_str());
  const int64_t b = x.size(0), t = x.size(1);
  const std::vector<Tensor> qkv = split((*c_attn_)(x), {c, c, c}, 2);  // 3 x (B, T, C)
  auto by_head = [&](const Tensor& u) { return u.view({b, t, h, d}).transpose(1, 2); };  // (B, H, T, D)
  const Tensor q = by_head(qkv[0]), k = by_head(qkv[1]), v = by_head(qkv[2]);
  Tensor scores = matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));  // (B, H, T, T)
  scores = masked_fill(scores, mask_.narrow(0, 0, t).narrow(1, 0, t),
                       -std::numeric_limits<double>::infinity());
  const Tensor weights = (*attn_dropout_)(softmax(scores, -1));
  const Tensor y = matmul(weights, v).transpose(1, 2).reshape({b, t, c});  // (B, T, C)
  return (*resid_dropout_)((*c_proj_)(y));
}

}  // namespace torus::nn
