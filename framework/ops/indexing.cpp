// Indexing and joining: embedding, index_select, concat, split, where, masked_fill.
// Gathers and concatenations see a contiguous tensor as (outer, rows, inner) around the
// indexed dim, so one row kernel serves every dim.
#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/device_checks.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/gather.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// index: contiguous i64/i32. Throws naming the first index outside [0, rows) and what
// it indexes (`indexed`, e.g. "weight of shape [10, 4]").
void check_index_range(const Tensor& index, int64_t rows, std::string_view indexed,
                       std::string_view op) {
  dispatch_index(index.dtype(), op, [&]<class I>() {
    const I* values = index.data<I>();
    for (int64_t k = 0; k < index.numel(); ++k) {
      TORUS_CHECK(values[k] >= 0 && values[k] < rows,
                  "{}: index {} (at position {}) is out of range [0, {}) for {}", op, values[k],
                  k, rows, indexed);
    }
  });
}

// out (outer, index.numel(), inner), returned with `out_shape`, gathers the rows of
// table (outer, layout.size, inner) that `index` names.
Tensor gather(const Tensor& table, const Tensor& index, const AxisLayout& layout,
              const Shape& out_shape) {
  Tensor src = table.detach().contiguous();
  Tensor out = Tensor::empty(out_shape, table.dtype());
  dispatch_all(table.dtype(), [&]<class T>() {
    dispatch_index(index.dtype(), "gather", [&]<class I>() {
      cpu::gather_rows(src.data<T>(), index.data<I>(), out.data<T>(), layout.outer, layout.size,
                       index.numel(), layout.inner);
    });
  });
  return out;
}

// The adjoint of gather: zeros of `shape` with the rows of g (outer, index.numel(), inner)
// added where `index` names them; duplicate indices accumulate.
Tensor scatter_add(const Tensor& g, const Tensor& index, const AxisLayout& layout,
                   const Shape& shape, std::string_view op) {
  Tensor src = g.contiguous();
  Tensor grad = Tensor::zeros(shape, g.dtype());
  dispatch_floating(g.dtype(), op, [&]<class T>() {
    dispatch_index(index.dtype(), op, [&]<class I>() {
      cpu::scatter_add_rows(src.data<T>(), index.data<I>(), grad.data<T>(), layout.outer,
                            index.numel(), layout.size, layout.inner);
    });
  });
  return grad;
}

// The shape of concat(tensors, dim): every tensor must match the first in dtype, rank and
// every size but dim's.
Shape concat_shape(const std::vector<Tensor>& tensors, int64_t dim) {
  const Tensor& first = tensors.front();
  Shape shape = first.shape();
  shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_same_device(t, first, "concat");
    TORUS_CHECK(t.dtype() == first.dtype(), "concat: tensor {} has dtype {} but tensor 0 has {}",
                i, dtype_name(t.dtype()), dtype_name(first.dtype()));
    bool same_shape = t.dim() == first.dim();
    for (int64_t d = 0; same_shape && d < t.dim(); ++d)
      same_shape = d == dim || t.shape()[d] == first.shape()[d];
    TORUS_CHECK(same_shape,
                "concat: tensor {} has shape {} but tensor 0 has shape {}; they must match in "
                "every dim but dim {}",
                i, t.shape_str(), first.shape_str(), dim);
    shape[dim] += t.shape()[dim];
  }
  return shape;
}

// The kernel's first bad position, checked now or with the run's other device checks
// (device_checks.h); an index outside the table throws the cpu's error, from the indices
// copied back (the error path only).
void check_rows_on_device(const Tensor& first_bad, const Tensor& index, int64_t rows, std::string indexed,
                          const char* op) {
  check_device_status(first_bad, [index, rows, indexed = std::move(indexed), op](const std::vector<int64_t>& status) {
    if (status[0] < 0) return;
    check_index_range(index.to(Device::cpu()), rows, indexed, op);
    // The kernel saw a bad index the host copy no longer holds: never pass it silently.
    throw ValueError(fmt::format("{}: the device found an index out of range [0, {}) for {} at position {}, which the "
                                 "indices no longer hold (changed in place before the check?)",
                                 op, rows, indexed, status[0]));
  });
}

Tensor embedding_cuda(const Tensor& index, const Tensor& weight, const Shape& out_shape) {
  const cuda_nn_kernels::EmbeddingForward f = cuda_nn_kernels::embedding(index, weight.detach());
  check_rows_on_device(f.first_bad, index, weight.size(0), fmt::format("weight of shape {}", weight.shape_str()),
                       "embedding");
  return f.out.view(out_shape);
}

// A contiguous (outer, size, inner) tensor as the (size, outer * inner) table of its rows
// along the middle dim, and back: how index_select uses the embedding kernels on a device.
Tensor rows_first(const Tensor& t, const AxisLayout& layout) {
  return t.detach().contiguous().view({layout.outer, layout.size, layout.inner}).permute({1, 0, 2}).contiguous().view(
      {layout.size, layout.outer * layout.inner});
}
Tensor rows_back(const Tensor& rows, const AxisLayout& layout) {
  return rows.view({layout.size, layout.outer, layout.inner}).permute({1, 0, 2}).contiguous();
}

// index_select on a device: the embedding gather over the rows_first table, and its
// deterministic scatter-add backward.
Tensor index_select_cuda(const Tensor& x, int64_t dim, const Tensor& index, const AxisLayout& layout,
                         const Shape& out_shape) {
  check_same_device(x, index, "index_select");
  const cuda_nn_kernels::EmbeddingForward f = cuda_nn_kernels::embedding(index, rows_first(x, layout));
  check_rows_on_device(f.first_bad, index, layout.size, fmt::format("dim {} of x of shape {}", dim, x.shape_str()),
                       "index_select");
  const AxisLayout selected{layout.outer, index.numel(), layout.inner};
  Tensor out = rows_back(f.out, selected).view(out_shape);
  return record("index_select", out, {x}, [index, layout, selected, shape = x.shape()](const Tensor& g) {
    const Tensor grad_rows =
        cuda_nn_kernels::embedding_backward(rows_first(g, selected), index, layout.size, layout.outer * layout.inner);
    return Grads{rows_back(grad_rows, layout).view(shape)};
  });
}

// concat on a device: each input copied into its slice of the output.
void concat_cuda(const std::vector<Tensor>& tensors, int64_t dim, const Tensor& out) {
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    out.narrow(dim, start, t.shape()[dim]).copy_(t.detach());
    start += t.shape()[dim];
  }
}

}  // namespace

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  TORUS_PROFILE_OP("embedding");
  const bool on_cuda = cuda_kernels::on_cuda(weight);
  if (on_cuda) {
    check_same_device(weight, indices, "embedding");
  } else {
    check_cpu(weight, "embedding");
    check_cpu(indices, "embedding");
  }
  TORUS_CHECK(weight.dim() == 2, "embedding: weight must be (V, D), got shape {}",
              weight.shape_str());
  // indices (*), weight (V, D) -> out (*, D): the whole table is one (1, V, D) slab.
  const AxisLayout layout{1, weight.size(0), weight.size(1)};
  Tensor index = indices.contiguous();
  Shape out_shape = indices.shape();
  out_shape.push_back(layout.inner);
  if (!on_cuda)
    check_index_range(index, layout.size, fmt::format("weight of shape {}", weight.shape_str()),
                      "embedding");
  Tensor out = on_cuda ? embedding_cuda(index, weight, out_shape) : gather(weight, index, layout, out_shape);
  // out[k] = weight[index[k]], so weight row v receives the sum of the g rows that read it.
  return record("embedding", out, {weight},
                [index, layout, shape = weight.shape(), on_cuda](const Tensor& g) {
                  if (on_cuda)
                    return Grads{cuda_nn_kernels::embedding_backward(g, index, layout.size, layout.inner)};
                  return Grads{scatter_add(g, index, layout, shape, "embedding backward")};
                });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  TORUS_PROFILE_OP("index_select");
  if (!cuda_kernels::on_cuda(x)) {
    check_cpu(x, "index_select");
    check_cpu(index, "index_select");
  }
  TORUS_CHECK(x.dim() >= 1, "index_select: x must have at least one dim, got shape {}",
              x.shape_str());
  TORUS_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape {}",
              index.shape_str());
  dim = wrap_dim(dim, x.dim(), "index_select");
  // x (outer, rows, inner) -> out (outer, K, inner), K = index.numel().
  const AxisLayout layout = axis_layout(x.shape(), dim);
  Tensor flat_index = index.contiguous();
  Shape out_shape = x.shape();
  out_shape[dim] = flat_index.numel();
  if (cuda_kernels::on_cuda(x)) return index_select_cuda(x, dim, flat_index, layout, out_shape);
  check_index_range(flat_index, layout.size,
                    fmt::format("dim {} of x of shape {}", dim, x.shape_str()), "index_select");
  Tensor out = gather(x, flat_index, layout, out_shape);
  // As embedding: each selected slice of x receives the sum of the g slices copied from it.
  return record("index_select", out, {x}, [flat_index, layout, shape = x.shape()](const Tensor& g) {
    return Grads{scatter_add(g, flat_index, layout, shape, "index_select backward")};
  });
}

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  TORUS_PROFILE_OP("concat");
  TORUS_CHECK(!tensors.empty(), "concat: needs at least one tensor");
  TORUS_CHECK(tensors.front().dim() >= 1, "concat: tensor 0 has zero dims and cannot be joined");
  dim = wrap_dim(dim, tensors.front().dim(), "concat");
  const Shape out_shape = concat_shape(tensors, dim);
  Tensor out = Tensor::empty(out_shape, tensors.front().dtype(), tensors.front().device());
  std::vector<int64_t> sizes;
  std::vector<bool> needs_grad;
  for (const Tensor& t : tensors) {
    sizes.push_back(t.shape()[dim]);
    needs_grad.push_back(t.requires_grad());
  }
  if (cuda_kernels::on_cuda(out)) {
    concat_cuda(tensors, dim, out);
  } else {
    // out (outer, total, inner); input i fills columns [start_i, start_i + size_i) of each slab.
    const AxisLayout layout = axis_layout(out_shape, dim);
    dispatch_all(out.dtype(), [&]<class T>() {
      int64_t start = 0;
      for (const Tensor& t : tensors) {
        Tensor src = t.detach().contiguous();
        cpu::copy_blocks(src.data<T>(), out.data<T>() + start * layout.inner, layout.outer,
                         t.shape()[dim] * layout.inner, layout.size * layout.inner);
        start += t.shape()[dim];
      }
    });
  }
  // Each input is copied unchanged into its slice of the output, so its gradient is that
  // slice of g.
  return record("concat", out, tensors, [dim, sizes, needs_grad](const Tensor& g) {
    Grads grads;
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      grads.push_back(needs_grad[i] ? g.narrow(dim, start, sizes[i]) : Tensor());
      start += sizes[i];
    }
    return grads;
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  TORUS_PROFILE_OP("split");
  TORUS_CHECK(x.dim() >= 1, "split: x must have at least one dim, got shape {}", x.shape_str());
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t size : sizes) {
    TORUS_CHECK(size >= 0, "split: negative size {} in sizes {}", size, shape_str(sizes));
    total += size;
  }
  TORUS_CHECK(total == x.shape()[dim],
              "split: sizes {} sum to {} but dim {} of shape {} has size {}", shape_str(sizes),
              total, dim, x.shape_str(), x.shape()[dim]);
  // narrow() records its own backward, so the pieces need no node of their own.
  std::vector<Tensor> pieces;
  int64_t start = 0;
  for (int64_t size : sizes) {
    pieces.push_back(x.narrow(dim, start, size));
    start += size;
  }
  return pieces;
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("where");
  check_same_dtype(a, b, "where");
  TORUS_CHECK(condition.dtype() == DType::u8, "where: condition must be a u8 mask, got {}",
              dtype_name(condition.dtype()));
  Tensor out;
  if (cuda_kernels::on_cuda(a) || cuda_kernels::on_cuda(b)) {
    out = cuda_kernels::where(condition, a, b);
  } else {
    check_cpu(a, "where");
    out = Tensor::empty(broadcast_shapes({condition.shape(), a.shape(), b.shape()}, "where"), a.dtype());
    auto loop = loop_shape<4>(out, {&condition, &a, &b});
    dispatch_floating(a.dtype(), "where", [&]<class T>() {
      cpu::ternary_loop(loop, out.data<T>(), condition.data<uint8_t>(), a.data<T>(), b.data<T>(),
                        [](uint8_t c, T x, T y) { return c ? x : y; });
    });
  }
  // The gradient goes to a where the condition holds, to b elsewhere.
  return record("where", out, {a, b},
                [condition, sa = a.shape(), sb = b.shape(), na = a.requires_grad(),
                 nb = b.requires_grad()](const Tensor& g) {
                  Tensor zero = Tensor::zeros({}, g.dtype());
                  return Grads{na ? sum_to(where(condition, g, zero), sa) : Tensor(),
                               nb ? sum_to(where(condition, zero, g), sb) : Tensor()};
                });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  TORUS_PROFILE_OP("masked_fill");
  return where(mask, Tensor::full({}, value, x.dtype()), x);
}

void register_indexing_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  s.push_back({"where/broadcast", {I::mask({3, 1}), I::real({3, 4}), I::real({4})},
               [](const V& x) { return where(x[0], x[1], x[2]); }, "torch.where(a.bool(), b, c)"});
  s.push_back({"masked_fill/broadcast", {I::real({3, 4}), I::mask({4})},
               [](const V& x) { return masked_fill(x[0], x[1], -1.5); },
               "a.masked_fill(b.bool(), -1.5)"});

  s.push_back({"embedding/indices_2d", {I::index({2, 3}, 10), I::real({10, 4})},
               [](const V& x) { return embedding(x[0], x[1]); }, "F.embedding(a, b)"});
  // 5 draws from 3 rows: some rows repeat, and their gradients must accumulate.
  s.push_back({"embedding/repeated", {I::index({5}, 3), I::real({3, 4})},
               [](const V& x) { return embedding(x[0], x[1]); }, "F.embedding(a, b)"});
  s.push_back({"embedding/i32_strided_weight", {I::index({2, 4}, 6), I::strided({6, 5})},
               [](const V& x) { return embedding(x[0].to(DType::i32), x[1]); },
               "F.embedding(a, b)"});
  s.push_back({"index_select/dim0_repeated", {I::real({4, 3}), I::index({6}, 4)},
               [](const V& x) { return index_select(x[0], 0, x[1]); },
               "torch.index_select(a, 0, b)"});
  s.push_back({"index_select/dim1_strided", {I::strided({3, 5}), I::index({4}, 5)},
               [](const V& x) { return index_select(x[0], 1, x[1]); },
               "torch.index_select(a, 1, b)"});
  s.push_back({"index_select/middle_dim", {I::real({2, 4, 3}), I::index({5}, 4)},
               [](const V& x) { return index_select(x[0], -2, x[1]); },
               "torch.index_select(a, 1, b)"});
  s.push_back({"concat/two_dim0", {I::real({2, 3}), I::real({4, 3})},
               [](const V& x) { return concat({x[0], x[1]}, 0); }, "torch.cat([a, b], 0)"});
  s.push_back({"concat/three_dim1_strided", {I::real({3, 2}), I::strided({3, 4}), I::real({3, 1})},
               [](const V& x) { return concat({x[0], x[1], x[2]}, 1); },
               "torch.cat([a, b, c], 1)"});
  s.push_back({"concat/negative_dim_constant",
               {I::real({2, 3, 2}), I::constant({2, 1, 2}), I::real({2, 2, 2})},
               [](const V& x) { return concat({x[0], x[1], x[2]}, -2); },
               "torch.cat([a, b, c], -2)"});
  // Each piece is scaled differently before joining again, so every piece gets its own
  // gradient.
  s.push_back({"split/three_dim1", {I::real({3, 6})},
               [](const V& x) {
                 auto p = split(x[0], {1, 2, 3}, 1);
                 return concat({p[0], p[1] * 2.0, p[2] * -3.0}, 1);
               },
               "torch.cat([p * k for p, k in zip(torch.split(a, [1, 2, 3], 1), (1, 2, -3))], 1)"});
  s.push_back({"split/dim0_strided_empty_piece", {I::strided({4, 3})},
               [](const V& x) {
                 auto p = split(x[0], {3, 0, 1}, 0);
                 return concat({p[0] * 0.5, p[1], p[2] * 4.0}, 0);
               },
               "torch.cat([p * k for p, k in zip(torch.split(a, [3, 0, 1], 0), (0.5, 1, 4))], 0)"});
}

}  // namespace torus
