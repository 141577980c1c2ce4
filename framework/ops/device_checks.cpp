// Deferred checks of device data (device_checks.h).
#include "framework/ops/device_checks.h"

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {

thread_local DeferredDeviceChecks* current = nullptr;

}  // namespace

void check_device_status(const Tensor& status, DeviceStatusCheck check) {
  TORUS_ASSERT(status.dtype() == DType::i64, "check_device_status: status must be i64, got {}",
               dtype_name(status.dtype()));
  if (current == nullptr) {
    check(status.to_vector<int64_t>());
    return;
  }
  current->pending_.push_back({status, std::move(check)});
}

DeferredDeviceChecks::DeferredDeviceChecks() : previous_(current) { current = this; }

DeferredDeviceChecks::~DeferredDeviceChecks() { current = previous_; }

void DeferredDeviceChecks::verify() {
  if (pending_.empty()) return;
  const std::vector<Pending> pending = std::move(pending_);
  pending_.clear();
  NoGradGuard no_grad;
  std::vector<Tensor> flat;
  for (const Pending& p : pending) flat.push_back(p.status.detach().reshape({-1}));
  // One copy to the host: the statuses of every op since the last verify.
  const std::vector<int64_t> all = (flat.size() == 1 ? flat[0] : concat(flat, 0)).to_vector<int64_t>();
  size_t at = 0;
  for (const Pending& p : pending) {
    const auto n = static_cast<size_t>(p.status.numel());
    p.check(std::vector<int64_t>(all.begin() + static_cast<std::ptrdiff_t>(at),
                                 all.begin() + static_cast<std::ptrdiff_t>(at + n)));
    at += n;
  }
}

void DeferredDeviceChecks::verify_pending() {
  if (current != nullptr) current->verify();
}

}  // namespace torus
