// Tensor factories, metadata, copies and conversions. Views live in ops/views.cpp
// because they are differentiable ops like any other.
#include "framework/tensor/tensor.h"

#include <cmath>
#include <numeric>

#include "framework/autograd/node.h"
#include "framework/tensor/convert.h"
#include "framework/tensor/device_backend.h"
#include "framework/tensor/iteration.h"
#include "framework/tensor/random.h"

namespace torus {

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  TORUS_CHECK(dim >= lo && dim <= hi, "{}: dim {} out of range for a tensor of {} dims", op, dim,
              ndim);
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const std::vector<Shape>& shapes, std::string_view op) {
  size_t ndim = 0;
  for (const Shape& s : shapes) ndim = std::max(ndim, s.size());
  Shape out(ndim, 1);
  for (const Shape& s : shapes) {
    const size_t lead = ndim - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[lead + d];
      if (s[d] == o || s[d] == 1) continue;
      if (o == 1) {
        o = s[d];
        continue;
      }
      std::vector<std::string> names;
      for (const Shape& t : shapes) names.push_back(shape_str(t));
      throw ValueError(fmt::format("{}: shapes {} cannot be broadcast together", op,
                                   fmt::join(names, " and ")));
    }
  }
  return out;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

// ---- Factories ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape)
    TORUS_CHECK(s >= 0, "empty: negative dimension in shape {}", torus::shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = convert<T>(i);
  });
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  TORUS_CHECK(static_cast<int64_t>(values.size()) == t.numel(),
              "from_vector: {} values for shape {} ({} elements)", values.size(),
              torus::shape_str(shape), t.numel());
  dispatch_all(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = convert<T>(values[i]);
  });
  return t;
}

namespace {

// A new f64 tensor filled two values per Philox block: pair(u1, u2) maps two uniforms
// in [0, 1) (53 bits each) to two values. Then converted to `dtype`.
template <class Pair>
Tensor from_uniform_pairs(const Shape& shape, Generator& gen, DType dtype, const Pair& pair) {
  Tensor out = Tensor::empty(shape, DType::f64);
  double* p = out.data<double>();
  const int64_t n = out.numel();
  const uint64_t first = gen.reserve(static_cast<uint64_t>((n + 1) / 2));
  for (int64_t i = 0; i < n; i += 2) {
    auto w = Generator::philox(gen.seed(), first + static_cast<uint64_t>(i / 2));
    const auto [a, b] = pair(Generator::to_unit_double(w[0], w[1]), Generator::to_unit_double(w[2], w[3]));
    p[i] = a;
    if (i + 1 < n) p[i + 1] = b;
  }
  return dtype == DType::f64 ? out : out.to(dtype);
}

}  // namespace

Tensor Tensor::rand(const Shape& shape, Generator& gen, DType dtype, double low, double high) {
  return from_uniform_pairs(shape, gen, dtype, [low, high](double u1, double u2) {
    return std::pair{low + (high - low) * u1, low + (high - low) * u2};
  });
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype, double mean, double std) {
  // Box-Muller: two uniforms give two independent normals. 1 - u keeps log() finite.
  return from_uniform_pairs(shape, gen, dtype, [mean, std](double u1, double u2) {
    const double radius = std::sqrt(-2.0 * std::log(1.0 - u1));
    const double angle = 2.0 * M_PI * u2;
    return std::pair{mean + std * radius * std::cos(angle), mean + std * radius * std::sin(angle)};
  });
}

Tensor randperm(int64_t n, Generator& gen) {
  TORUS_CHECK(n >= 0, "randperm: n must be >= 0, got {}", n);
  Tensor out = Tensor::arange(n, DType::i64);
  int64_t* p = out.data<int64_t>();
  const uint64_t first = gen.reserve(static_cast<uint64_t>(n));
  for (int64_t i = n - 1; i > 0; --i) {
    auto w = Generator::philox(gen.seed(), first + static_cast<uint64_t>(i));
    const uint64_t r = (uint64_t{w[0]} << 32) | w[1];
    std::swap(p[i], p[static_cast<int64_t>(r % static_cast<uint64_t>(i + 1))]);
  }
  return out;
}

// ---- Metadata ----

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }

int64_t Tensor::numel() const { return shape_numel(shape()); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

std::string Tensor::shape_str() const { return torus::shape_str(shape()); }

double Tensor::item() const {
  TORUS_CHECK(numel() == 1, "item: tensor of shape {} has {} elements, not 1", shape_str(),
              numel());
  if (!device().is_cpu()) return to(Device::cpu()).item();
  return dispatch_all(dtype(), [&]<class T>() { return convert<double>(*static_cast<T*>(raw_data())); });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  if (!device().is_cpu()) return to(Device::cpu()).to_vector<T>();
  Tensor c = to(dtype_of<T>).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::vector<double> values = to_vector<double>();
  const size_t shown = std::min<size_t>(values.size(), 16);
  return fmt::format("Tensor(shape={}, dtype={}, values=[{:.6g}{}])", shape_str(),
                     dtype_name(dtype()),
                     fmt::join(values.begin(), values.begin() + static_cast<long>(shown), ", "),
                     values.size() > shown ? ", ..." : "");
}

// ---- Copies ----

void Tensor::copy_(const Tensor& src) const {
  Shape target = broadcast_shapes({shape(), src.shape()}, "copy_");
  TORUS_CHECK(target == shape(), "copy_: source of shape {} does not broadcast to {}",
              src.shape_str(), shape_str());
  if (!device().is_cpu() || !src.device().is_cpu()) return device_backend::copy(*this, src);
  auto loop = loop_shape<2>(*this, {&src});
  dispatch_all(dtype(), [&]<class To>() {
    dispatch_all(src.dtype(), [&]<class From>() {
      cpu::unary_loop(loop, static_cast<To*>(raw_data()), static_cast<const From*>(src.raw_data()),
                      [](From v) { return convert<To>(v); });
    });
  });
}

void Tensor::fill_(double value) const {
  if (!device().is_cpu()) return device_backend::fill(*this, value);
  dispatch_all(dtype(), [&]<class T>() {
    const T v = convert<T>(value);
    auto loop = loop_shape<2>(*this, {this});
    cpu::unary_loop(loop, static_cast<T*>(raw_data()), static_cast<const T*>(raw_data()),
                    [v](T) { return v; });
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return record("clone", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target, device());
  out.copy_(*this);
  if (!is_floating(target) || !is_floating(dtype())) return out;
  const DType source = dtype();
  return record("to", out, {*this},
                [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(shape(), dtype(), target);
  out.copy_(*this);
  if (!is_floating(dtype())) return out;
  const Device source = device();
  return record("to_device", out, {*this},
                [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
}

// ---- Autograd ----

const Tensor& Tensor::set_requires_grad(bool required) const {
  TORUS_CHECK(is_leaf(), "set_requires_grad: only leaves can be marked (this is the output of {})",
              grad_fn() ? "an op" : "?");
  TORUS_CHECK(!required || is_floating(dtype()),
              "set_requires_grad: only floating-point tensors can require grad (dtype {})",
              dtype_name(dtype()));
  impl().requires_grad = required;
  return *this;
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

}  // namespace torus
