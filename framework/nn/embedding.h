// Embedding: a lookup table of shape (num_embeddings, dim), as torch.nn.Embedding.
#pragma once

#include "framework/nn/module.h"
#include "framework/tensor/random.h"

namespace torus::nn {

class Embedding : public Layer {
 public:
  // Initialised as PyTorch does: weight ~ N(0, 1).
  Embedding(int64_t num_embeddings, int64_t dim, Generator& gen, DType dtype = DType::f32);

  // indices (*) of i64 or i32 in [0, num_embeddings) -> (*, dim)
  Tensor forward(const Tensor& indices) const override;

  int64_t num_embeddings() const { return weight_.size(0); }
  int64_t embedding_dim() const { return weight_.size(1); }
  const Tensor& weight() const { return weight_; }

 private:
  Tensor weight_;
};

}  // namespace torus::nn
