// Indexing and joining: where, masked_fill (the rest of the family: embedding,
// index_select, concat, split, follows in this file).
#include "framework/autograd/node.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {
using Grads = std::vector<Tensor>;
}  // namespace

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_cpu(a, "where");
  check_same_dtype(a, b, "where");
  TORUS_CHECK(condition.dtype() == DType::u8, "where: condition must be a u8 mask, got {}",
              dtype_name(condition.dtype()));
  Tensor out = Tensor::empty(broadcast_shapes({condition.shape(), a.shape(), b.shape()}, "where"),
                             a.dtype());
  auto loop = loop_shape<4>(out, {&condition, &a, &b});
  dispatch_floating(a.dtype(), "where", [&]<class T>() {
    cpu::ternary_loop(loop, out.data<T>(), condition.data<uint8_t>(), a.data<T>(), b.data<T>(),
                      [](uint8_t c, T x, T y) { return c ? x : y; });
  });
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
}

}  // namespace torus
