// Device-dispatched storage allocation.
#include "framework/tensor/storage.h"

#include "framework/tensor/allocator.h"
#include "kernels/common/error.h"

namespace torus {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (!device.is_cpu())
    throw NotImplementedError(
        fmt::format("device {}: this build has no CUDA backend yet", device.str()));
  void* data = HostAllocator::instance().allocate(nbytes);
  return std::make_shared<Storage>(data, nbytes, device,
                                   [](void* p) { HostAllocator::instance().deallocate(p); });
}

}  // namespace torus
