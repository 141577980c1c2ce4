// The device side of tensors: storage on cuda:N and the copies and fills that touch it.
// Two implementations, one per build: cuda_backend.cpp (TORUS_WITH_CUDA) calls the CUDA
// backend (kernels/cuda/device_context.h, strided_copy.h); cuda_backend_off.cpp says the
// build has none. tensor.cpp and storage.cpp call these only for tensors not on the cpu.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "framework/tensor/device.h"

namespace torus {

class Storage;
class Tensor;

namespace device_backend {

// Whether this build has the CUDA backend, and how many devices this process sees.
bool built_with_cuda();
int cuda_device_count();
// Why `device` cannot be used ("" when it can): no backend, no driver, no such index.
std::string why_unavailable(Device device);

std::shared_ptr<Storage> allocate(size_t nbytes, Device device);

// dst = src broadcast to dst's shape and converted to dst's dtype, where at least one of
// them is not on the cpu. Any strides on either side; host <-> device goes through a
// contiguous staging tensor on the host.
void copy(const Tensor& dst, const Tensor& src);

// Every element of dst (on a device) set to value.
void fill(const Tensor& dst, double value);

// Waits for everything issued on the device's compute stream (timings, host reads).
void synchronize(Device device);

}  // namespace device_backend
}  // namespace torus
