// A batch as the loader hands it out, and the loader's position in its stream of
// batches (the state a checkpoint saves to resume the data exactly).
#pragma once

#include <cstdint>

#include "framework/tensor/tensor.h"

namespace torus::data {

// Batch `batch` (0-based) of epoch `epoch`; the batch after the last of an epoch is
// batch 0 of the next.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const LoaderPosition&) const = default;
};

struct Batch {
  Tensor inputs;   // (b, input sample shape...): this rank's samples of the global batch
  Tensor targets;  // (b, target sample shape...)
  LoaderPosition position;
  // Samples in the global batch over all ranks (for averaging a loss across ranks);
  // b is global_samples / world for every full batch.
  int64_t global_samples = 0;
  bool last_in_epoch = false;
};

}  // namespace torus::data
