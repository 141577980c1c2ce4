// device_backend on the CUDA backend (see device_backend.h): storage from the device's
// caching allocator, copies and fills on its compute stream.
#include "framework/tensor/device_backend.h"
#include "framework/tensor/storage.h"
#include "framework/tensor/tensor.h"
#include "kernels/common/error.h"
#include "kernels/cuda/device_context.h"
#include "kernels/cuda/strided_copy.h"

namespace torus::device_backend {
namespace {

cuda::ElementType element_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return cuda::ElementType::f32;
    case DType::f64: return cuda::ElementType::f64;
    case DType::bf16: return cuda::ElementType::bf16;
    case DType::f16: return cuda::ElementType::f16;
    case DType::i32: return cuda::ElementType::i32;
    case DType::i64: return cuda::ElementType::i64;
    case DType::u8: return cuda::ElementType::u8;
  }
  throw ValueError(fmt::format("dtype {} has no CUDA element type", dtype_name(dtype)));
}

cuda::DeviceContext& context(Device device) {
  const std::string why = why_unavailable(device);
  if (!why.empty()) throw ValueError(why);
  return cuda::device_context(device.index);
}

// dst = src (broadcast, converted) where both are on the same device.
void copy_on_device(const Tensor& dst, const Tensor& src) {
  const cuda::StridedCopyLayout layout =
      cuda::strided_copy_layout(dst.shape(), dst.strides(), src.shape(), src.strides());
  cuda::DeviceContext& ctx = context(dst.device());
  ctx.make_current();
  cuda::strided_copy(dst.raw_data(), element_type(dst.dtype()), src.raw_data(), element_type(src.dtype()), layout,
                     ctx.compute_stream());
}

Tensor dense_on_device(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_on_device(out, t);
  return out;
}

// A host copy of a device tensor, contiguous, same shape and dtype.
Tensor download(const Tensor& src) {
  const Tensor dense = dense_on_device(src);
  Tensor host = Tensor::empty(src.shape(), src.dtype());
  context(src.device()).copy_to_host(host.raw_data(), dense.raw_data(), dense.nbytes());
  return host;
}

// dst (on a device) = src (on the host): converted to dst's dtype and made dense on the
// host, uploaded, then broadcast into dst's strides on the device when it is not a plain
// copy.
void upload(const Tensor& dst, const Tensor& src) {
  Tensor staged = src;
  if (src.dtype() != dst.dtype() || !src.is_contiguous()) {
    staged = Tensor::empty(src.shape(), dst.dtype());
    staged.copy_(src);
  }
  cuda::DeviceContext& ctx = context(dst.device());
  if (dst.is_contiguous() && dst.shape() == src.shape()) {
    ctx.copy_to_device(dst.raw_data(), staged.raw_data(), staged.nbytes());
    return;
  }
  Tensor on_device = Tensor::empty(src.shape(), dst.dtype(), dst.device());
  ctx.copy_to_device(on_device.raw_data(), staged.raw_data(), staged.nbytes());
  copy_on_device(dst, on_device);
}

}  // namespace

bool built_with_cuda() { return true; }
int cuda_device_count() { return cuda::device_count(); }

std::string why_unavailable(Device device) {
  if (device.is_cpu()) return "";
  const int count = cuda::device_count();
  if (count == 0) return fmt::format("device {}: {}", device.str(), cuda::why_no_device());
  if (device.index < 0 || device.index >= count)
    return fmt::format("device {}: this process sees {} CUDA device{} (cuda:0 to cuda:{})", device.str(), count,
                       count == 1 ? "" : "s", count - 1);
  return "";
}

std::shared_ptr<Storage> allocate(size_t nbytes, Device device) {
  if (nbytes == 0) {  // no memory, but still only on a device this process can use
    if (const std::string why = why_unavailable(device); !why.empty()) throw ValueError(why);
    return std::make_shared<Storage>(nullptr, 0, device, nullptr);
  }
  cuda::DeviceContext& ctx = context(device);
  void* data = ctx.allocate(nbytes);
  return std::make_shared<Storage>(data, nbytes, device, [&ctx](void* p) { ctx.deallocate(p); });
}

void copy(const Tensor& dst, const Tensor& src) {
  const Device to = dst.device(), from = src.device();
  if (to == from) return copy_on_device(dst, src);
  if (to.is_cpu()) return dst.copy_(download(src));
  if (from.is_cpu()) return upload(dst, src);
  upload(dst, download(src));  // between two devices, through the host (rare: model moves)
}

void fill(const Tensor& dst, double value) {
  const cuda::StridedCopyLayout layout =
      cuda::strided_copy_layout(dst.shape(), dst.strides(), dst.shape(), dst.strides());
  cuda::DeviceContext& ctx = context(dst.device());
  ctx.make_current();
  cuda::strided_fill(dst.raw_data(), element_type(dst.dtype()), value, layout, ctx.compute_stream());
}

void synchronize(Device device) {
  if (!device.is_cpu()) context(device).synchronize_compute();
}

}  // namespace torus::device_backend
