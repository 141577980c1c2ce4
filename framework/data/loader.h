// The data loader: batches of a Dataset for one rank, in a seeded order that every rank
// shares, prepared on a background thread while the current batch trains.
//
//   data::Loader loader(dataset, {.batch_size = 128, .seed = 0, .rank = r, .world = w,
//                                 .normalization = {{kFashionMnistMean}, {kFashionMnistStd}}});
//   for (int64_t step = 0; step < steps; ++step) {
//     data::Batch batch = loader.next();  // rank r's 128 / w samples of global batch `step`
//     ...
//   }
//   save(loader.position());  ...  loader.set_position(saved);  // exact resume
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/data/batch.h"
#include "framework/data/dataset.h"
#include "framework/data/normalization.h"

namespace torus::data {

class BatchAssembler;
class Prefetcher;

struct LoaderOptions {
  int64_t batch_size = 0;  // the global batch: samples per step over all ranks
  bool shuffle = true;     // a new seeded order each epoch; off: dataset order
  uint64_t seed = 0;
  bool drop_last = true;   // off: each epoch ends with a smaller batch of the remainder
  // This process's part of a data-parallel job: rank `rank` of `world` gets the
  // contiguous slice [rank * b, (rank + 1) * b) of each global batch, b = batch_size / world.
  int rank = 0;
  int world = 1;
  Normalization normalization{};  // inputs <- (inputs - mean) / std
  // Batches prepared ahead on a background thread; 0 prepares each batch in next().
  int prefetch = 1;
};

// Used from one thread. The tensors of a batch are reused for a later batch once the
// caller drops every reference to them (the loader keeps a few buffers in rotation and
// replaces a buffer that is still referenced), so holding a batch is always safe and a
// loop that drops its batches allocates nothing per step.
class Loader {
 public:
  // Throws ValueError for bad options: a batch size `world` does not divide (naming both),
  // a rank outside the world, a normalisation that does not fit the inputs, no batch in
  // an epoch.
  Loader(std::shared_ptr<const Dataset> dataset, const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The batch at position(), then advances (past an epoch's last batch to the next epoch).
  // An error while preparing it (a failing read, say) is thrown here, and the position
  // stays at that batch, so calling next() again retries it.
  Batch next();

  // The position of the batch next() returns: saved by checkpoints.
  LoaderPosition position() const { return position_; }
  // Continues from `position` (0 <= batch < batches_per_epoch()), yielding exactly the
  // batches a loader that had got there by next() would; discards prepared batches.
  void set_position(const LoaderPosition& position);

  int64_t batches_per_epoch() const;
  // Samples per rank in a full batch: batch_size / world.
  int64_t local_batch_size() const;
  // This rank's sample indices for a position (what next() would gather there).
  std::vector<int64_t> sample_indices(const LoaderPosition& position) const;
  const Dataset& dataset() const;
  const LoaderOptions& options() const { return options_; }
  // Batch buffers allocated so far (for checking that steady state allocates none).
  int64_t buffers_allocated() const;

 private:
  LoaderOptions options_;
  std::unique_ptr<BatchAssembler> assembler_;
  std::unique_ptr<Prefetcher> prefetcher_;  // started on the first next()
  LoaderPosition position_;
};

}  // namespace torus::data
