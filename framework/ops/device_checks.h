// Checks of data that lives on a device: an index inside its table (embedding, index_select),
// a class target (cross_entropy). The kernels guard such values and write a small i64 status
// on the device; reading it back waits for the device, which a training step must not do
// once per op. So:
// - outside a DeferredDeviceChecks scope, an op reads its status at once and throws there,
//   with the cpu's message (as a cpu op would);
// - inside one (the trainer's run on a device), the op leaves its status and its check, and
//   verify() reads every pending status with one copy, where the caller waits anyway (a loss
//   read), then runs the checks in the order the ops ran: the first failure throws.
// The scope is per thread; verify_pending() verifies the current one, if any.
#pragma once

#include <functional>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus {

// Looks at a status read back to the host and throws what is wrong, if anything.
using DeviceStatusCheck = std::function<void(const std::vector<int64_t>& status)>;

// `status`: a small i64 tensor (host or device) the op's kernel wrote; `check` says whether
// it is good. Runs now, or at the current scope's verify().
void check_device_status(const Tensor& status, DeviceStatusCheck check);

class DeferredDeviceChecks {
 public:
  DeferredDeviceChecks();
  ~DeferredDeviceChecks();  // drops what was not verified (an error is already on its way)
  DeferredDeviceChecks(const DeferredDeviceChecks&) = delete;
  DeferredDeviceChecks& operator=(const DeferredDeviceChecks&) = delete;

  // Reads every pending status and runs the checks; none is pending afterwards, even when
  // one throws.
  void verify();
  int64_t pending() const { return static_cast<int64_t>(pending_.size()); }

  static void verify_pending();  // the current scope's verify(); nothing without one

 private:
  friend void check_device_status(const Tensor& status, DeviceStatusCheck check);
  struct Pending {
    Tensor status;
    DeviceStatusCheck check;
  };
  std::vector<Pending> pending_;
  DeferredDeviceChecks* previous_;
};

}  // namespace torus
