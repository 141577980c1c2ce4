// cuda_nn_kernels.h in a build without CUDA: unreachable (device tensors cannot be made),
// but each still refuses by name rather than doing nothing.
#include "framework/ops/cuda_nn_kernels.h"

#include "framework/tensor/device_backend.h"

namespace torus::cuda_nn_kernels {
namespace {

[[noreturn]] void refuse(std::string_view op, const Tensor& t) {
  throw NotImplementedError(fmt::format("{}: {}", op, device_backend::why_unavailable(t.device())));
}

}  // namespace

Tensor softmax_last(const Tensor& x, bool, std::string_view op) { refuse(op, x); }
Tensor softmax_last_backward(const Tensor& y, const Tensor&, bool, std::string_view op) { refuse(op, y); }

LayerNormForward layer_norm_forward(const Tensor& x, const Tensor&, const Tensor&, int64_t, int64_t, double) {
  refuse("layer_norm", x);
}
LayerNormGrads layer_norm_backward(const Tensor& x, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                                   int64_t, LayerNormWanted, const Shape&) {
  refuse("layer_norm backward", x);
}

Tensor gelu(const Tensor& x, bool) { refuse("gelu", x); }
Tensor gelu_backward(const Tensor& x, const Tensor&, bool) { refuse("gelu backward", x); }
Tensor bias_gelu(const Tensor& x, const Tensor&, bool) { refuse("linear_gelu", x); }
BiasGeluGrads bias_gelu_backward(const Tensor& x, const Tensor&, const Tensor&, bool, bool) {
  refuse("linear_gelu backward", x);
}

CrossEntropyForward cross_entropy_forward(const Tensor& x, const Tensor&, int64_t, double) {
  refuse("cross_entropy", x);
}
Tensor cross_entropy_backward(const Tensor& x, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                              double) {
  refuse("cross_entropy backward", x);
}

EmbeddingForward embedding(const Tensor&, const Tensor& weight) { refuse("embedding", weight); }
Tensor embedding_backward(const Tensor& g, const Tensor&, int64_t, int64_t) { refuse("embedding backward", g); }

Tensor dropout(const Tensor& x, double, uint64_t, uint64_t) { refuse("dropout", x); }
Tensor dropout_backward(const Tensor& g, double, uint64_t, uint64_t) { refuse("dropout backward", g); }

AttentionForward causal_attention(const Tensor& qkv, int64_t, const AttentionDropout&) {
  refuse("causal_attention", qkv);
}
Tensor causal_attention_backward(const Tensor& qkv, const Tensor&, const Tensor&, int64_t, const AttentionDropout&) {
  refuse("causal_attention backward", qkv);
}

}  // namespace torus::cuda_nn_kernels
