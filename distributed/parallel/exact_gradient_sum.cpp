// Fixed-point shard sums (see exact_gradient_sum.h).
#include "distributed/parallel/exact_gradient_sum.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "framework/autograd/grad_mode.h"

namespace torus::parallel {

namespace {

constexpr int kSumBits = 62;  // |sum| < 2^62 < 2^63: never overflows int64

int ceil_log2(int64_t n) {
  int bits = 0;
  while ((int64_t{1} << bits) < n) ++bits;
  return bits;
}

template <class T>
double max_abs(const T* g, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = std::fabs(static_cast<double>(g[i]));
    if (!(a <= m)) m = std::isnan(a) ? std::numeric_limits<double>::infinity() : a;
  }
  return m;
}

// Adds g * 2^-exponent, rounded to the nearest integer, into sums.
template <class T>
void add_fixed(const T* g, int64_t n, int exponent, int64_t* sums) {
  const double to_fixed = std::ldexp(1.0, -exponent);  // a power of two: exact scaling
  for (int64_t i = 0; i < n; ++i) sums[i] += std::llrint(static_cast<double>(g[i]) * to_fixed);
}

template <class T>
void from_fixed(const int64_t* sums, int64_t n, int exponent, T* out) {
  const double from = std::ldexp(1.0, exponent);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<double>(sums[i]) * from);
}

}  // namespace

ExactGradientSum::ExactGradientSum(std::vector<Tensor> parameters, comm::ProcessGroup& group,
                                   int64_t total_shards)
    : parameters_(std::move(parameters)), group_(group), total_shards_(total_shards) {
  TORUS_CHECK(total_shards > 0 && total_shards % group.size() == 0,
              "reproducible mode: distributed.reproducible_shards {} is not a multiple of the {} ranks",
              total_shards, group.size());
  shards_per_rank_ = total_shards / group.size();
  int64_t elements = 0;
  for (const Tensor& p : parameters_) {
    TORUS_CHECK(p.is_contiguous() && (p.dtype() == DType::f32 || p.dtype() == DType::f64),
                "reproducible mode: parameters must be contiguous f32 or f64 tensors, got {} {}",
                dtype_name(p.dtype()), p.shape_str());
    offsets_.push_back(elements);
    elements += p.numel();
  }
  if (!parameters_.empty() && !parameters_[0].device().is_cpu()) device_ = parameters_[0].device();
  for (const Tensor& p : parameters_)
    TORUS_CHECK(!device_ || (p.device() == *device_ && p.dtype() == DType::f32),
                "reproducible mode: parameters on a device must be f32 tensors on one device ({}), got {} on {}",
                device_->str(), dtype_name(p.dtype()), p.device().str());
  kept_.resize(static_cast<size_t>(shards_per_rank_));
  for (auto& shard : kept_) {
    if (device_) {
      kept_flat_.push_back(Tensor::zeros({elements}, DType::f32));
      for (size_t j = 0; j < parameters_.size(); ++j) shard.push_back(flat_part(kept_flat_.back(), j));
    } else {
      for (const Tensor& p : parameters_) shard.push_back(Tensor::zeros(p.shape(), p.dtype()));
    }
  }
  if (device_) device_flat_ = Tensor::zeros({elements}, DType::f32, *device_);
  const auto n = static_cast<int64_t>(parameters_.size());
  local_max_ = Tensor::zeros({n}, DType::f64);
  max_abs_ = Tensor::zeros({n * group.size()}, DType::f64);
  sums_ = Tensor::zeros({elements}, DType::i64);
}

void ExactGradientSum::broadcast_parameters() {
  NoGradGuard no_grad;
  // The host group carries host tensors: a device parameter goes through a host copy.
  std::vector<Tensor> on_host;
  for (const Tensor& p : parameters_) on_host.push_back(p.device().is_cpu() ? p : p.detach().to(Device::cpu()));
  std::vector<comm::WorkPtr> pending;
  for (const Tensor& t : on_host) pending.push_back(group_.broadcast(t, 0));
  for (auto& w : pending) w->wait();
  for (size_t j = 0; j < parameters_.size(); ++j)
    if (!parameters_[j].device().is_cpu()) parameters_[j].detach().copy_(on_host[j]);
}

Tensor ExactGradientSum::flat_part(const Tensor& flat, size_t j) const {
  const Tensor& p = parameters_[j];
  return flat.narrow(0, offsets_[j], p.numel()).view(p.shape());
}

void ExactGradientSum::keep_shard(int64_t shard) {
  TORUS_CHECK(shard >= 0 && shard < shards_per_rank_, "reproducible mode: shard {} of {}", shard, shards_per_rank_);
  NoGradGuard no_grad;
  auto& kept = kept_[static_cast<size_t>(shard)];
  for (size_t j = 0; j < parameters_.size(); ++j) {
    Tensor& p = parameters_[j];
    // On a device, gathered where the gradients are, for one copy to the host below.
    const Tensor into = device_ ? flat_part(device_flat_, j) : kept[j];
    if (p.grad().defined()) {
      into.copy_(p.grad());  // bit for bit
      p.set_grad(Tensor());  // the next shard's backward starts from nothing
    } else {
      into.fill_(0.0);
    }
  }
  if (device_) kept_flat_[static_cast<size_t>(shard)].copy_(device_flat_);
}

void ExactGradientSum::finish() {
  const size_t n = parameters_.size();
  // 1. The largest magnitude of each tensor over every shard of every rank.
  auto* local = local_max_.data<double>();
  for (size_t j = 0; j < n; ++j) {
    double m = 0;
    for (const auto& shard : kept_) {
      const Tensor& g = shard[j];
      m = std::max(m, g.dtype() == DType::f32 ? max_abs(g.data<float>(), g.numel())
                                              : max_abs(g.data<double>(), g.numel()));
    }
    local[j] = m;
  }
  group_.all_gather(local_max_, max_abs_)->wait();
  const auto* all = max_abs_.data<double>();
  std::vector<double> global(n, 0);
  for (int r = 0; r < group_.size(); ++r)
    for (size_t j = 0; j < n; ++j) global[j] = std::max(global[j], all[static_cast<size_t>(r) * n + j]);

  // 2. Fixed point: the scale of a tensor leaves room for the sum of every shard.
  const int headroom = ceil_log2(total_shards_);
  std::vector<int> exponents(n, 0);
  int64_t* sums = sums_.data<int64_t>();
  std::memset(sums, 0, sums_.nbytes());
  for (size_t j = 0; j < n; ++j) {
    if (global[j] == 0 || !std::isfinite(global[j])) continue;
    int top = 0;
    std::frexp(global[j], &top);  // global < 2^top
    exponents[j] = top + headroom - kSumBits;
    for (const auto& shard : kept_) {
      const Tensor& g = shard[j];
      int64_t* s = sums + offsets_[j];
      if (g.dtype() == DType::f32) add_fixed(g.data<float>(), g.numel(), exponents[j], s);
      else add_fixed(g.data<double>(), g.numel(), exponents[j], s);
    }
  }
  // 3. Integer sums are exact: any all-reduce order gives the same bits.
  group_.all_reduce(sums_, comm::ReduceOp::sum)->wait();

  // 4. Back to floating point, into .grad (on a device through one flat copy, which .grad
  // views: a fresh buffer, as the optimizer still reads it when the next step's shards start).
  const Tensor host_flat = device_ ? Tensor::empty({sums_.numel()}, DType::f32) : Tensor();
  for (size_t j = 0; j < n; ++j) {
    Tensor& p = parameters_[j];
    // every element is written below
    Tensor grad = device_ ? flat_part(host_flat, j) : Tensor::empty(p.shape(), p.dtype());
    if (!std::isfinite(global[j])) {
      grad.fill_(std::numeric_limits<double>::quiet_NaN());
    } else if (p.dtype() == DType::f32) {
      from_fixed(sums + offsets_[j], p.numel(), exponents[j], grad.data<float>());
    } else {
      from_fixed(sums + offsets_[j], p.numel(), exponents[j], grad.data<double>());
    }
    if (!device_) p.set_grad(grad);
  }
  if (!device_) return;
  const Tensor device_grads = host_flat.to(*device_);
  for (size_t j = 0; j < n; ++j) parameters_[j].set_grad(flat_part(device_grads, j));
}

int64_t ExactGradientSum::buffer_bytes() const {
  auto bytes = static_cast<int64_t>(sums_.nbytes() + local_max_.nbytes() + max_abs_.nbytes());
  for (const auto& shard : kept_)
    for (const Tensor& g : shard) bytes += static_cast<int64_t>(g.nbytes());
  if (device_) bytes += static_cast<int64_t>(device_flat_.nbytes());  // where a device's shard is gathered
  return bytes;
}

}  // namespace torus::parallel
