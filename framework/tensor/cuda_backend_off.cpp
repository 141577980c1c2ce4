// device_backend for builds without CUDA (TORUS_WITH_CUDA=OFF): every device is refused by
// name, so a config asking for cuda fails at its first tensor with the reason.
#include "framework/tensor/device_backend.h"

#include "framework/tensor/storage.h"
#include "framework/tensor/tensor.h"
#include "kernels/common/error.h"

namespace torus::device_backend {
namespace {

[[noreturn]] void refuse(Device device) { throw NotImplementedError(why_unavailable(device)); }

}  // namespace

bool built_with_cuda() { return false; }
int cuda_device_count() { return 0; }

std::string why_unavailable(Device device) {
  if (device.is_cpu()) return "";
  return fmt::format("device {}: this build of Torus has no CUDA backend (configured with TORUS_WITH_CUDA=OFF)",
                     device.str());
}

std::shared_ptr<Storage> allocate(size_t, Device device) { refuse(device); }
void copy(const Tensor& dst, const Tensor& src) { refuse(dst.device().is_cpu() ? src.device() : dst.device()); }
void fill(const Tensor& dst, double) { refuse(dst.device()); }
void synchronize(Device device) {
  if (!device.is_cpu()) refuse(device);
}

}  // namespace torus::device_backend
