// The loader composes the sampler (which samples), the assembler (buffers, gather,
// normalisation) and the prefetcher (the background thread).
#include "framework/data/loader.h"

#include "framework/data/batch_assembler.h"
#include "framework/data/prefetcher.h"
#include "framework/data/sampler.h"

namespace torus::data {
namespace {

SamplerOptions sampler_options(const Dataset& dataset, const LoaderOptions& options) {
  return {.dataset_size = dataset.size(),
          .global_batch = options.batch_size,
          .shuffle = options.shuffle,
          .seed = options.seed,
          .drop_last = options.drop_last,
          .rank = options.rank,
          .world = options.world};
}

}  // namespace

Loader::Loader(std::shared_ptr<const Dataset> dataset, const LoaderOptions& options) : options_(options) {
  TORUS_CHECK(dataset != nullptr, "loader: no dataset");
  TORUS_CHECK(options.prefetch >= 0, "loader: prefetch must be 0 or more batches, got {}", options.prefetch);
  const SamplerOptions sampler = sampler_options(*dataset, options);
  // Buffers in rotation: the batches queued, the one being filled, the one the caller
  // trains on and the one it may still hold while asking for the next.
  const int slots = options.prefetch + 2;
  assembler_ = std::make_unique<BatchAssembler>(std::move(dataset), sampler, options.normalization, slots);
}

Loader::~Loader() = default;  // the prefetcher stops and joins its thread first

Batch Loader::next() {
  Batch batch;
  if (options_.prefetch == 0) {
    batch = assembler_->assemble(position_);
  } else {
    if (!prefetcher_)
      prefetcher_ = std::make_unique<Prefetcher>(
          [this](const LoaderPosition& p) { return assembler_->assemble(p); },
          [this](const LoaderPosition& p) { return assembler_->after(p); }, position_, options_.prefetch);
    try {
      batch = prefetcher_->next();
    } catch (...) {
      prefetcher_.reset();  // its worker has stopped; the next call restarts at this batch
      throw;
    }
  }
  position_ = assembler_->after(position_);
  return batch;
}

void Loader::set_position(const LoaderPosition& position) {
  TORUS_CHECK(position.epoch >= 0 && position.batch >= 0 && position.batch < batches_per_epoch(),
              "loader: position (epoch {}, batch {}) is outside epochs of {} batches", position.epoch,
              position.batch, batches_per_epoch());
  prefetcher_.reset();
  position_ = position;
}

int64_t Loader::batches_per_epoch() const { return assembler_->sampler().batches_per_epoch(); }

int64_t Loader::local_batch_size() const { return assembler_->sampler().local_batch(); }

std::vector<int64_t> Loader::sample_indices(const LoaderPosition& position) const {
  BatchSampler sampler(assembler_->sampler().options());
  std::vector<int64_t> indices;
  sampler.rank_indices(position.epoch, position.batch, indices);
  return indices;
}

const Dataset& Loader::dataset() const { return assembler_->dataset(); }

int64_t Loader::buffers_allocated() const { return assembler_->buffers_allocated(); }

}  // namespace torus::data
