// A reference-counted buffer of bytes on one device. Views share one Storage.
#pragma once

#include <cstddef>
#include <memory>

#include "framework/tensor/device.h"

namespace torus {

class Storage {
 public:
  // Allocates `nbytes` from the device's caching allocator.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);

  Storage(void* data, size_t nbytes, Device device, void (*release)(void*))
      : data_(data), nbytes_(nbytes), device_(device), release_(release) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release_ != nullptr) release_(data_);
  }

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  void (*release_)(void*);
};

}  // namespace torus
