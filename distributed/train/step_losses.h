// The training losses of steps not read back yet. Reading a device scalar waits for all the
// work queued before it: a trainer on a device that read each step's loss at once would
// stall every step (the host could not queue the next step's kernels while the device still
// runs this one's). StepLosses keeps each step's micro-batch losses where they are and reads
// every pending one together, one copy and one wait, when a value is needed: a log line, an
// evaluation, a checkpoint, a stop, the end. The ops' own checks of device data (an index
// out of range, an invalid target: framework/ops/device_checks.h) are deferred to the same
// reads, and their errors name the steps read. On the host, where reading costs nothing, it
// reads each step as it is added (defer = false), so a diverging loss ends the run at once.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::train {

class StepLosses {
 public:
  explicit StepLosses(bool defer) : defer_(defer) {}

  // Step `step`'s loss (its learning rate `lr`, for the message): `micro_losses` (0-dim,
  // detached, all on one device), each weighted by `scale`, summed in order in f64. Read now
  // unless deferring.
  void add(int64_t step, double lr, std::vector<Tensor> micro_losses, double scale);
  // A step whose loss was read already (reproducible mode's, summed over ranks).
  void add_read(double loss);
  // Runs the pending device checks, then reads every pending step; throws Error naming the
  // steps of a failed check, or the first step whose loss is not finite.
  void read();
  bool deferred() const { return defer_; }
  // The last step's loss, reading pending steps first.
  double last();
  int64_t pending_steps() const { return static_cast<int64_t>(pending_.size()); }

  // Deferred steps are read at the latest after this many, whatever log_every: the pending
  // losses and device checks hold device memory (the checks their indices and targets).
  static constexpr int64_t kMaxPendingSteps = 64;

 private:
  struct Pending {
    int64_t step = 0;
    double lr = 0;
    std::vector<Tensor> losses;
    double scale = 1;
  };
  bool defer_;
  std::vector<Pending> pending_;
  double last_ = 0;
};

}  // namespace torus::train
