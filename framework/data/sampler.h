// Which samples make up each batch, for every rank: the epoch's order (a seeded
// permutation, the same on every rank) cut into global batches, and each global batch
// cut into one contiguous slice per rank. Pure arithmetic on (epoch, batch), so a
// resumed or re-sharded job reproduces exactly the batches of an uninterrupted one.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::data {

struct SamplerOptions {
  int64_t dataset_size = 0;
  int64_t global_batch = 0;  // samples per step across all ranks
  bool shuffle = true;
  uint64_t seed = 0;
  // Without drop_last, the epoch ends with one smaller global batch of the remainder.
  bool drop_last = true;
  int rank = 0;
  int world = 1;
};

class BatchSampler {
 public:
  // Throws ValueError on a bad option: a global batch that `world` does not divide
  // (naming both), rank outside [0, world), or no full batch in the epoch with drop_last.
  explicit BatchSampler(const SamplerOptions& options);

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  // Samples per rank in a full global batch: global_batch / world.
  int64_t local_batch() const { return local_batch_; }
  const SamplerOptions& options() const { return options_; }

  // Samples in global batch `batch` (all ranks): global_batch, or the remainder for the
  // last batch without drop_last.
  int64_t global_batch_size(int64_t batch) const;

  // Writes this rank's sample indices of (epoch, batch) into `out` (resized; it keeps its
  // capacity, so a reused vector allocates nothing). Rank r takes positions
  // [r*b, (r+1)*b) of the global batch, b = global_batch / world; a smaller last batch of
  // L samples is split as evenly as possible, rank r taking [r*L/world, (r+1)*L/world),
  // so some ranks may get none.
  void rank_indices(int64_t epoch, int64_t batch, std::vector<int64_t>& out);

  // The order of the epoch's samples: a permutation drawn from Philox with the seed at
  // counter offset epoch * dataset_size (a stream of its own per epoch), or the identity
  // without shuffling.
  Tensor epoch_order(int64_t epoch) const;

 private:
  SamplerOptions options_;
  int64_t local_batch_ = 0;
  int64_t batches_per_epoch_ = 0;
  int64_t cached_epoch_ = -1;  // the epoch whose order is in order_
  Tensor order_;
};

}  // namespace torus::data
