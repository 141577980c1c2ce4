// Tensor: a strided view of a Storage, with the autograd state of define-by-run
// differentiation. Tensor is a cheap handle (a shared pointer); copies alias.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "framework/tensor/device.h"
#include "framework/tensor/dtype.h"
#include "framework/tensor/storage.h"

namespace torus {

using Shape = std::vector<int64_t>;

class Generator;
class Node;
class AccumulateGrad;
class Tensor;

// Called with a leaf's gradient once it is final for the current backward pass.
using GradReadyHook = std::function<void(Tensor& leaf)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements, into storage
  DType dtype = DType::f32;

  // Autograd state. A tensor with requires_grad and no grad_fn is a leaf.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<AccumulateGrad> grad_accumulator;  // leaves only, made on first use
  std::string name;                                  // for error messages and debugging
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- Factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = {});
  static Tensor scalar(double value, DType dtype = DType::f32);
  // 0, 1, ..., n-1
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  // Copies `values` (converted to dtype) into a new tensor of `shape`.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::f32);
  template <class T>
  static Tensor from_data(const std::vector<T>& values, const Shape& shape) {
    Tensor t = empty(shape, dtype_of<T>);
    TORUS_CHECK(static_cast<int64_t>(values.size()) == t.numel(),
                "from_data: {} values for shape of {} elements", values.size(), t.numel());
    std::copy(values.begin(), values.end(), t.data<T>());
    return t;
  }
  static Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32,
                     double low = 0.0, double high = 1.0);
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32,
                      double mean = 0.0, double std = 1.0);

  // ---- Metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  // Size of dimension d; negative d counts from the end.
  int64_t size(int64_t d) const;
  int64_t numel() const;
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t element_size() const { return dtype_size(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  std::string shape_str() const;
  std::string str() const;  // values, for debugging and error messages

  // Pointer to the first element (offset applied), for host code: T must match dtype and
  // the tensor must be on the cpu (a device tensor's memory is reached through raw_data()
  // by the device's own kernels, or copied with to(Device::cpu())).
  template <class T>
  T* data() const {
    TORUS_CHECK(dtype_of<T> == dtype(), "data<{}>() on a tensor of dtype {}",
                dtype_name(dtype_of<T>), dtype_name(dtype()));
    TORUS_CHECK(device().is_cpu(), "data<{}>() on a tensor on {}: host code reads device tensors through .to(cpu)",
                dtype_name(dtype()), device().str());
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const {
    TORUS_CHECK(impl().storage->has_memory(),
                "tensor '{}' {} has no memory: its storage was released (a ZeRO stage 3 parameter used outside "
                "the forward and backward of the module that owns it)",
                impl().name, shape_str());
    return static_cast<char*>(impl().storage->data()) + impl().offset * element_size();
  }
  // The single value of a one-element tensor, converted to double.
  double item() const;
  // All values in logical (row-major) order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- Views (share storage; differentiable) ----
  Tensor view(const Shape& shape) const;     // needs compatible strides
  Tensor reshape(const Shape& shape) const;  // view when possible, else copy
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor unsqueeze(int64_t dim) const;

  // ---- Copies ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  // A copy on `device` (this tensor itself when already there). Recorded by autograd: the
  // gradient goes back to this tensor's device. Host-to-device returns once the host's
  // values are staged; device-to-host once the values have arrived.
  Tensor to(Device device) const;
  // Copies src (broadcast to this shape, converted to this dtype) into this tensor, in place.
  // Not recorded by autograd.
  void copy_(const Tensor& src) const;
  void fill_(double value) const;

  // ---- Autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter to differentiate; returns *this for chaining.
  const Tensor& set_requires_grad(bool required = true) const;
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // The accumulated gradient of a leaf (undefined before the first backward).
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& grad) const { impl().grad = grad.impl_; }
  void zero_grad() const { impl().grad.reset(); }
  // Backpropagates from this tensor; `gradient` defaults to 1 for a one-element tensor.
  void backward(const Tensor& gradient = Tensor()) const;
  // A tensor sharing storage but cut from the graph.
  Tensor detach() const;
  // Fires after this leaf's gradient is complete in each backward pass.
  void register_grad_ready_hook(GradReadyHook hook) const;

  const std::string& name() const { return impl().name; }
  void set_name(std::string name) const { impl().name = std::move(name); }

  TensorImpl& impl() const {
    TORUS_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Strides of a contiguous (row-major) tensor of this shape.
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);
// Maps a possibly negative dim into [0, ndim); names the op in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op);

// A view of `base` with new geometry and no autograd history.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

}  // namespace torus
