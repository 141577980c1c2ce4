// Builds one batch: asks the sampler for this rank's sample indices, gathers them into
// a reused buffer and normalises it. Deterministic and single-threaded; the loader runs
// it on the caller's thread or on its prefetch thread.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "framework/data/batch.h"
#include "framework/data/dataset.h"
#include "framework/data/normalization.h"
#include "framework/data/sampler.h"

namespace torus::data {

class BatchAssembler {
 public:
  // `slots` buffers are used in turn: enough that a slot comes round again only after
  // its batch was handed out and replaced, so steady state reuses every buffer.
  BatchAssembler(std::shared_ptr<const Dataset> dataset, const SamplerOptions& sampler,
                 Normalization normalization, int slots);

  Batch assemble(const LoaderPosition& position);
  LoaderPosition after(const LoaderPosition& position) const;

  const BatchSampler& sampler() const { return sampler_; }
  const Dataset& dataset() const { return *dataset_; }
  // Buffers allocated so far (tests check that steady state allocates none).
  int64_t buffers_allocated() const { return buffers_allocated_.load(); }

 private:
  struct Slot {
    Tensor inputs, targets;  // (local batch, sample...)
  };
  Slot& take_slot();

  std::shared_ptr<const Dataset> dataset_;
  BatchSampler sampler_;
  Normalization normalization_;
  std::vector<Slot> slots_;
  size_t next_slot_ = 0;
  std::vector<int64_t> indices_;  // scratch, reused
  std::atomic<int64_t> buffers_allocated_ = 0;  // read from the consumer thread
};

}  // namespace torus::data
