// Dropout. The mask comes from the counter-based Philox stream: element i uses word i % 4
// of block first + i / 4, so it depends only on the generator's seed and position, never
// on how the blocks are split across threads.
#include <algorithm>

#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"
#include "kernels/cpu/parallel.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// A u8 mask of `shape`, 1 where an element is kept (its uniform draw is >= p). Advances
// `gen` by ceil(numel / 4) blocks.
Tensor keep_mask(const Shape& shape, double p, Generator& gen) {
  Tensor mask = Tensor::empty(shape, DType::u8);
  const int64_t n = mask.numel();
  const int64_t blocks = (n + 3) / 4;
  const uint64_t first = gen.reserve(static_cast<uint64_t>(blocks));
  const uint64_t seed = gen.seed();
  uint8_t* keep = mask.data<uint8_t>();
  cpu::parallel_for(blocks, cpu::kParallelGrain / 4, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const auto words = Generator::philox(seed, first + static_cast<uint64_t>(b));
      const int64_t count = std::min<int64_t>(4, n - 4 * b);
      for (int64_t j = 0; j < count; ++j)
        keep[4 * b + j] = Generator::to_unit_float(words[j]) >= p ? 1 : 0;
    }
  });
  return mask;
}

// t * mask * scale, with mask a u8 tensor of t's shape. Multiplying (rather than
// selecting) keeps PyTorch's semantics for non-finite inputs: inf * 0 is NaN.
Tensor apply_mask(const Tensor& t, const Tensor& mask, double scale) {
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  auto loop = loop_shape<3>(out, {&t, &mask});
  dispatch_floating(t.dtype(), "dropout", [&]<class T>() {
    const T s = static_cast<T>(scale);
    cpu::binary_loop(loop, out.data<T>(), t.data<T>(), mask.data<uint8_t>(),
                     [s](T v, uint8_t kept) { return v * (static_cast<T>(kept) * s); });
  });
  return out;
}

// On a device: the same Philox blocks as keep_mask (seed, and the generator advanced by
// ceil(numel / 4) blocks), so the mask matches the cpu's; the backward regenerates it
// from (seed, offset) instead of keeping it.
Tensor dropout_cuda(const Tensor& x, double p, Generator& gen) {
  const uint64_t blocks = static_cast<uint64_t>((x.numel() + 3) / 4);
  const uint64_t offset = gen.reserve(blocks), seed = gen.seed();
  return record("dropout", cuda_nn_kernels::dropout(x.detach(), p, seed, offset), {x},
                [p, seed, offset](const Tensor& g) {
                  return Grads{cuda_nn_kernels::dropout_backward(g, p, seed, offset)};
                });
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  TORUS_PROFILE_OP("dropout");
  if (!cuda_kernels::on_cuda(x)) check_cpu(x, "dropout");
  TORUS_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability p must be in [0, 1], got {}", p);
  if (!training || p == 0.0) return x;
  // Everything is dropped: multiplying by zero keeps the graph (a zero gradient) and draws
  // nothing, as PyTorch does.
  if (p == 1.0) return x * 0.0;
  if (cuda_kernels::on_cuda(x)) return dropout_cuda(x, p, gen);
  const double scale = 1.0 / (1.0 - p);
  Tensor mask = keep_mask(x.shape(), p, gen);
  // out = x * mask / (1 - p) is linear in x: d out / dx = mask / (1 - p).
  return record("dropout", apply_mask(x, mask, scale), {x}, [mask, scale](const Tensor& g) {
    return Grads{apply_mask(g, mask, scale)};
  });
}

void register_dropout_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  // The generator is made inside the call, so repeated calls draw the same mask; PyTorch
  // cannot replay Philox, so its expression reads the mask back from Torus's output.
  auto seeded = [](double p, bool training) {
    return [p, training](const V& x) {
      Generator gen(2024);
      return dropout(x[0], p, training, gen);
    };
  };
  s.push_back({"dropout/training", {I::real({4, 5})}, seeded(0.3, true),
               "torch.where(out != 0, a / (1 - 0.3), torch.zeros_like(a))"});
  s.push_back({"dropout/training_strided", {I::strided({6, 5})}, seeded(0.5, true),
               "torch.where(out != 0, a / (1 - 0.5), torch.zeros_like(a))"});
  s.push_back({"dropout/eval", {I::real({3, 4})}, seeded(0.3, false),
               "F.dropout(a, 0.3, training=False)"});
  s.push_back({"dropout/p_one", {I::real({3, 4})}, seeded(1.0, true),
               "F.dropout(a, 1.0, training=True)"});
}

}  // namespace torus
