// Batch buffers are reused when nobody else holds them, and replaced when someone still
// does (a caller keeping an old batch), so reuse never overwrites data in use.
#include "framework/data/batch_assembler.h"

#include <atomic>

namespace torus::data {
namespace {

Shape batch_shape(int64_t rows, const Shape& sample) {
  Shape shape{rows};
  shape.insert(shape.end(), sample.begin(), sample.end());
  return shape;
}

// A buffer is free when the slot holds the only reference to its tensor and storage
// (views, such as a narrowed last batch, share the storage).
bool held_elsewhere(const Tensor& buffer) {
  return buffer.impl_ptr().use_count() > 1 || buffer.storage().use_count() > 1;
}

}  // namespace

BatchAssembler::BatchAssembler(std::shared_ptr<const Dataset> dataset, const SamplerOptions& sampler,
                               Normalization normalization, int slots)
    : dataset_(std::move(dataset)),
      sampler_(sampler),
      normalization_(std::move(normalization)),
      slots_(static_cast<size_t>(slots)) {
  TORUS_ASSERT(slots >= 1);
  check_normalization(normalization_, dataset_->input_spec());
  indices_.reserve(static_cast<size_t>(sampler_.local_batch()));
}

BatchAssembler::Slot& BatchAssembler::take_slot() {
  Slot& slot = slots_[next_slot_];
  next_slot_ = (next_slot_ + 1) % slots_.size();
  if (!slot.inputs.defined() || held_elsewhere(slot.inputs) || held_elsewhere(slot.targets)) {
    const int64_t rows = sampler_.local_batch();
    slot.inputs = Tensor::empty(batch_shape(rows, dataset_->input_spec().shape), dataset_->input_spec().dtype);
    slot.targets = Tensor::empty(batch_shape(rows, dataset_->target_spec().shape), dataset_->target_spec().dtype);
    ++buffers_allocated_;
  }
  // The last holder released its reference (with release ordering) after reading the
  // buffer; acquiring here orders our writes after those reads.
  std::atomic_thread_fence(std::memory_order_acquire);
  return slot;
}

Batch BatchAssembler::assemble(const LoaderPosition& position) {
  sampler_.rank_indices(position.epoch, position.batch, indices_);
  Slot& slot = take_slot();
  const auto rows = static_cast<int64_t>(indices_.size());
  Batch batch;
  batch.inputs = rows == sampler_.local_batch() ? slot.inputs : slot.inputs.narrow(0, 0, rows);
  batch.targets = rows == sampler_.local_batch() ? slot.targets : slot.targets.narrow(0, 0, rows);
  dataset_->gather(indices_, batch.inputs, batch.targets);
  normalize_inplace(normalization_, batch.inputs);
  batch.position = position;
  batch.global_samples = sampler_.global_batch_size(position.batch);
  batch.last_in_epoch = position.batch + 1 == sampler_.batches_per_epoch();
  return batch;
}

LoaderPosition BatchAssembler::after(const LoaderPosition& position) const {
  if (position.batch + 1 < sampler_.batches_per_epoch()) return {position.epoch, position.batch + 1};
  return {position.epoch + 1, 0};
}

}  // namespace torus::data
