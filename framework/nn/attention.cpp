// Causal self-attention (see attention.h).
#include "framework/nn/attention.h"

#include "framework/ops/ops.h"

namespace torus::nn {

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
}

Tensor CausalSelfAttention::forward(const Tensor& x) const {
  const int64_t c = options_.d_model, h = options_.heads;
  TORUS_CHECK(x.dim() == 3 && x.size(2) == c && x.size(1) <= options_.context,
              "CausalSelfAttention(d_model {}, heads {}, context {}): input must be (B, T <= {}, {}), "
              "got shape {}",
              c, h, options_.context, options_.context, c, x.shape_str());
  // The attention weights' dropout is attn_dropout's p and generator, inside the fused op.
  const Tensor y = causal_attention((*c_attn_)(x), h, attn_dropout_->p(), attn_dropout_->is_training(),
                                    attn_dropout_->generator().get());  // (B, T, C)
  return (*resid_dropout_)((*c_proj_)(y));
}

}  // namespace torus::nn
