// Batch and rank arithmetic (see sampler.h).
#include "framework/data/sampler.h"

#include <algorithm>

#include "framework/tensor/random.h"

namespace torus::data {

BatchSampler::BatchSampler(const SamplerOptions& options) : options_(options) {
  TORUS_CHECK(options.dataset_size >= 1, "sampler: the dataset holds no samples");
  TORUS_CHECK(options.global_batch >= 1, "sampler: the global batch size must be positive, got {}",
              options.global_batch);
  TORUS_CHECK(options.world >= 1, "sampler: the world size must be positive, got {}", options.world);
  TORUS_CHECK(options.rank >= 0 && options.rank < options.world, "sampler: rank {} is outside a world of {}",
              options.rank, options.world);
  TORUS_CHECK(options.global_batch % options.world == 0,
              "the global batch size {} is not divisible by the number of ranks {}", options.global_batch,
              options.world);
  local_batch_ = options.global_batch / options.world;
  const int64_t full = options.dataset_size / options.global_batch;
  const bool remainder = options.dataset_size % options.global_batch != 0;
  batches_per_epoch_ = full + (remainder && !options.drop_last ? 1 : 0);
  TORUS_CHECK(batches_per_epoch_ >= 1,
              "the dataset holds {} samples, fewer than one global batch of {} (drop_last leaves no batch)",
              options.dataset_size, options.global_batch);
}

int64_t BatchSampler::global_batch_size(int64_t batch) const {
  TORUS_CHECK(batch >= 0 && batch < batches_per_epoch_, "sampler: batch {} is outside an epoch of {} batches", batch,
              batches_per_epoch_);
  return std::min(options_.global_batch, options_.dataset_size - batch * options_.global_batch);
}

Tensor BatchSampler::epoch_order(int64_t epoch) const {
  TORUS_CHECK(epoch >= 0, "sampler: epoch must be non-negative, got {}", epoch);
  if (!options_.shuffle) return Tensor::arange(options_.dataset_size, DType::i64);
  Generator generator(options_.seed);
  generator.set_offset(static_cast<uint64_t>(epoch) * static_cast<uint64_t>(options_.dataset_size));
  return randperm(options_.dataset_size, generator);
}

void BatchSampler::rank_indices(int64_t epoch, int64_t batch, std::vector<int64_t>& out) {
  TORUS_CHECK(epoch >= 0, "sampler: epoch must be non-negative, got {}", epoch);
  const int64_t global = global_batch_size(batch);
  if (epoch != cached_epoch_) {
    order_ = epoch_order(epoch);
    cached_epoch_ = epoch;
  }
  // For a full batch this is [rank * b, (rank + 1) * b): world divides the global batch.
  const int64_t begin = options_.rank * global / options_.world;
  const int64_t end = (options_.rank + 1) * global / options_.world;
  const int64_t* order = order_.data<int64_t>() + batch * options_.global_batch;
  out.assign(order + begin, order + end);
}

}  // namespace torus::data
