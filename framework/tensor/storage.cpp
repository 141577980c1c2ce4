// Device-dispatched storage allocation.
#include "framework/tensor/storage.h"

#include "framework/tensor/allocator.h"
#include "framework/tensor/device_backend.h"

namespace torus {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (!device.is_cpu()) return device_backend::allocate(nbytes, device);
  void* data = HostAllocator::instance().allocate(nbytes);
  return std::make_shared<Storage>(data, nbytes, device,
                                   [](void* p) { HostAllocator::instance().deallocate(p); });
}

}  // namespace torus
