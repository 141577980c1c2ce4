// Embedding (see embedding.h).
#include "framework/nn/embedding.h"

#include "framework/ops/ops.h"

namespace torus::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t dim, Generator& gen, DType dtype) {
  TORUS_CHECK(num_embeddings > 0 && dim > 0, "Embedding: sizes must be positive, got {} x {}",
              num_embeddings, dim);
  weight_ = register_parameter("weight", Tensor::randn({num_embeddings, dim}, gen, dtype));
}

Tensor Embedding::forward(const Tensor& indices) const {
  TORUS_CHECK(indices.dtype() == DType::i64 || indices.dtype() == DType::i32,
              "Embedding({}, {}): indices must be i64 or i32, got {} of shape {}", num_embeddings(),
              embedding_dim(), dtype_name(indices.dtype()), indices.shape_str());
  return embedding(indices, weight_);
}

}  // namespace torus::nn
