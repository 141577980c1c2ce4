// View ops: new shape and strides over the same storage, no data moved. Each backward
// maps the gradient back to the input's geometry.
#include <algorithm>
#include <numeric>

#include "framework/autograd/node.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {

// Infers one -1 entry of a requested shape from the element count.
Shape infer_shape(const Shape& requested, int64_t numel, std::string_view op) {
  Shape shape = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TORUS_CHECK(infer_at < 0, "{}: only one dimension can be -1 in {}", op, shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else {
      TORUS_CHECK(shape[i] >= 0, "{}: invalid size {} in {}", op, shape[i], shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    TORUS_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for {} elements", op,
                shape_str(requested), numel);
    shape[infer_at] = numel / known;
  }
  TORUS_CHECK(shape_numel(shape) == numel, "{}: shape {} is invalid for {} elements", op,
              shape_str(requested), numel);
  return shape;
}

// Strides for viewing `shape`/`strides` as `target` without a copy, if possible
// (the algorithm of torch's computeStride: match runs of contiguous dims).
std::optional<Shape> view_strides(const Shape& shape, const Shape& strides, const Shape& target) {
  Shape out(target.size());
  if (shape_numel(shape) == 0 || shape.empty()) return contiguous_strides(target);
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Tensor reshape_backward_to(const Tensor& g, const Shape& shape) { return g.reshape(shape); }

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  Shape target = infer_shape(requested, numel(), "view");
  auto strides_for_view = view_strides(shape(), strides(), target);
  TORUS_CHECK(strides_for_view.has_value(),
              "view: a tensor of shape {} and strides {} cannot be viewed as {}; use reshape()",
              shape_str(), torus::shape_str(strides()), torus::shape_str(target));
  Tensor out = make_view(*this, target, *strides_for_view, offset());
  const Shape input_shape = shape();
  return record("view", out, {*this}, [input_shape](const Tensor& g) {
    return std::vector<Tensor>{reshape_backward_to(g, input_shape)};
  });
}

Tensor Tensor::reshape(const Shape& requested) const {
  Shape target = infer_shape(requested, numel(), "reshape");
  if (view_strides(shape(), strides(), target)) return view(target);
  return contiguous().view(target);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  TORUS_CHECK(start_dim <= end_dim, "flatten: start_dim {} after end_dim {}", start_dim, end_dim);
  Shape target(shape().begin(), shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= shape()[d];
  target.push_back(merged);
  target.insert(target.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(target);
}

Tensor Tensor::permute(const Shape& dims) const {
  TORUS_CHECK(static_cast<int64_t>(dims.size()) == dim(),
              "permute: {} dims given for a tensor of {} dims", dims.size(), dim());
  Shape new_shape(dims.size()), new_strides(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    TORUS_CHECK(!seen[d], "permute: dim {} repeated in {}", d, torus::shape_str(dims));
    seen[d] = true;
    new_shape[i] = shape()[d];
    new_strides[i] = strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(*this, new_shape, new_strides, offset());
  return record("permute", out, {*this},
                [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  Shape dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  if (dim() == 0) return *this;
  std::swap(dims[wrap_dim(d0, dim(), "transpose")], dims[wrap_dim(d1, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  const int64_t size = shape()[d];
  if (start < 0) start += size;
  TORUS_CHECK(start >= 0 && length >= 0 && start + length <= size,
              "narrow: range [{}, {}) out of bounds for dim {} of size {}", start, start + length,
              d, size);
  Shape new_shape = shape();
  new_shape[d] = length;
  Tensor out = make_view(*this, new_shape, strides(), offset() + start * strides()[d]);
  const Shape input_shape = shape();
  const DType dtype = this->dtype();
  return record("narrow", out, {*this}, [input_shape, dtype, d, start, length](const Tensor& g) {
    Tensor grad = Tensor::zeros(input_shape, dtype, g.device());
    grad.narrow(d, start, length).copy_(g);
    return std::vector<Tensor>{grad};
  });
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  if (index < 0) index += shape()[d];
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& target) const {
  TORUS_CHECK(static_cast<int64_t>(target.size()) >= dim(),
              "expand: cannot expand shape {} to fewer dims {}", shape_str(),
              torus::shape_str(target));
  const int64_t lead = static_cast<int64_t>(target.size()) - dim();
  Shape new_shape(target.size()), new_strides(target.size(), 0);
  for (int64_t d = 0; d < static_cast<int64_t>(target.size()); ++d) {
    const int64_t want = target[d];
    if (d < lead) {
      TORUS_CHECK(want >= 0, "expand: invalid size {} in {}", want, torus::shape_str(target));
      new_shape[d] = want;
      continue;
    }
    const int64_t have = shape()[d - lead];
    if (want == -1 || want == have) {
      new_shape[d] = have;
      new_strides[d] = strides()[d - lead];
    } else {
      TORUS_CHECK(have == 1, "expand: dim {} of size {} cannot expand to {} (shape {} to {})", d,
                  have, want, shape_str(), torus::shape_str(target));
      new_shape[d] = want;
    }
  }
  Tensor out = make_view(*this, new_shape, new_strides, offset());
  const Shape input_shape = shape();
  return record("expand", out, {*this}, [input_shape](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, input_shape)};
  });
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape new_shape = shape();
  new_shape.erase(new_shape.begin() + d);
  return reshape(new_shape);
}

Tensor Tensor::squeeze() const {
  Shape new_shape;
  for (int64_t s : shape())
    if (s != 1) new_shape.push_back(s);
  return reshape(new_shape);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape new_shape = shape();
  new_shape.insert(new_shape.begin() + d, 1);
  return reshape(new_shape);
}

void register_views_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  auto one = [](auto f) { return [f](const std::vector<Tensor>& x) { return f(x[0]); }; };
  s.push_back({"view/merge", {I::real({2, 3, 4})}, one([](const Tensor& a) { return a.view({6, 4}); }), "a.view(6, 4)"});
  s.push_back({"reshape/strided", {I::strided({3, 4})}, one([](const Tensor& a) { return a.reshape({12}); }), "a.reshape(12)"});
  s.push_back({"flatten/middle", {I::real({2, 3, 4, 2})}, one([](const Tensor& a) { return a.flatten(1, 2); }), "a.flatten(1, 2)"});
  s.push_back({"transpose/last", {I::real({2, 3, 4})}, one([](const Tensor& a) { return a.transpose(0, 2); }), "a.transpose(0, 2)"});
  s.push_back({"permute/3d", {I::real({2, 3, 4})}, one([](const Tensor& a) { return a.permute({1, 2, 0}); }), "a.permute(1, 2, 0)"});
  s.push_back({"narrow/middle", {I::real({5, 3})}, one([](const Tensor& a) { return a.narrow(0, 1, 3); }), "a.narrow(0, 1, 3)"});
  s.push_back({"select/row", {I::strided({4, 3})}, one([](const Tensor& a) { return a.select(1, 2); }), "a.select(1, 2)"});
  s.push_back({"expand/broadcast", {I::real({3, 1})}, one([](const Tensor& a) { return a.expand({2, 3, 4}); }), "a.expand(2, 3, 4)"});
  s.push_back({"squeeze/dim", {I::real({3, 1, 2})}, one([](const Tensor& a) { return a.squeeze(1); }), "a.squeeze(1)"});
  s.push_back({"unsqueeze/front", {I::real({3, 2})}, one([](const Tensor& a) { return a.unsqueeze(0); }), "a.unsqueeze(0)"});
  s.push_back({"contiguous/strided", {I::strided({3, 4})}, one([](const Tensor& a) { return a.contiguous(); }), "a.contiguous()"});
}

}  // namespace torus
