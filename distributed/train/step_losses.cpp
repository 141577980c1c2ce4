// Deferred reading of training losses (see step_losses.h).
#include "distributed/train/step_losses.h"

#include <cmath>

#include <fmt/format.h>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/device_checks.h"
#include "framework/ops/ops.h"

namespace torus::train {

void StepLosses::add(int64_t step, double lr, std::vector<Tensor> micro_losses, double scale) {
  TORUS_CHECK(!micro_losses.empty(), "step {}: no loss to record", step);
  pending_.push_back({step, lr, std::move(micro_losses), scale});
  if (!defer_ || pending_steps() >= kMaxPendingSteps) read();
}

void StepLosses::add_read(double loss) {
  read();
  last_ = loss;
}

void StepLosses::read() {
  std::vector<double> values;
  try {
    DeferredDeviceChecks::verify_pending();
    if (pending_.empty()) return;
    NoGradGuard no_grad;
    std::vector<Tensor> all;
    for (const Pending& p : pending_)
      for (const Tensor& loss : p.losses) all.push_back(loss.detach().reshape({1}));
    // One copy to the host: one wait for the device, however many steps are pending.
    values = (all.size() == 1 ? all[0] : concat(all, 0)).to(Device::cpu()).to_vector<double>();
  } catch (const std::exception& e) {
    // A failed check, or a device error surfacing at the wait: the steps it happened in.
    if (pending_.empty()) throw;
    const int64_t first = pending_.front().step, last = pending_.back().step;
    throw Error(first == last ? fmt::format("step {}: {}", first, e.what())
                              : fmt::format("steps {}-{}: {}", first, last, e.what()));
  }
  size_t next = 0;
  std::vector<Pending> pending = std::move(pending_);
  pending_.clear();
  for (const Pending& p : pending) {
    double sum = 0;
    for (size_t i = 0; i < p.losses.size(); ++i) {
      const double value = values[next++];
      if (!std::isfinite(value))
        throw Error(fmt::format("step {}: the loss is {} (lr {:.6g}); lower optimizer.lr or set optimizer.grad_clip_norm",
                                p.step, std::isnan(value) ? "NaN" : "infinite", p.lr));
      sum += value * p.scale;
    }
    last_ = sum;
  }
}

double StepLosses::last() {
  read();
  return last_;
}

}  // namespace torus::train
