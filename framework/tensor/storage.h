// A reference-counted buffer of bytes on one device. Views share one Storage.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "framework/tensor/device.h"

namespace torus {

class Storage {
 public:
  // Allocates `nbytes` from the device's caching allocator.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);

  // Wraps memory owned elsewhere (an allocator block, a mapped file); `release` frees it.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> release)
      : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release_) release_(data_);
  }

  void* data() const { return data_; }
  bool has_memory() const { return data_ != nullptr || nbytes_ == 0; }
  // Frees the current memory and takes `data` (nbytes() of it, or null: none) in its
  // place. Tensors and the autograd graph's saved views keep this Storage while ZeRO
  // stage 3 frees a parameter's memory after use and gathers it back before the next.
  void replace_memory(void* data, std::function<void(void*)> release) {
    if (release_) release_(data_);
    data_ = data;
    release_ = std::move(release);
  }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> release_;
};

}  // namespace torus
