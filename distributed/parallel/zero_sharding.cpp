// ZeRO stages 1, 2 and 3 (see zero_sharding.h): the shard layout and the gradients' way
// into the shard. Stage 3's gathering of parameters is in zero_parameter_gathering.cpp.
#include "distributed/parallel/zero_sharding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"
#include "framework/optim/clip_grad.h"

namespace torus::parallel {

namespace {

constexpr int64_t kChunkAlignment = 16;  // elements: chunks start on cache lines

int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

// A contiguous tensor's elements as one flat view of its memory, outside autograd: what the
// buckets copy parameters and gradients in and out of, on the host or a device alike.
Tensor flat_view(const Tensor& t) { return t.detach().view({t.numel()}); }

// Zeros elements [from, to) of a flat tensor.
void zero_range(const Tensor& flat, int64_t from, int64_t to) {
  if (to > from) flat.narrow(0, from, to - from).fill_(0.0);
}

}  // namespace

ZeroSharding::ZeroSharding(Layer& model, comm::ProcessGroup& group, const ZeroOptions& options)
    : group_(group), stage_(options.stage), reduce_gradients_(options.reduce_gradients), model_(model) {
  TORUS_CHECK(options.stage >= 1 && options.stage <= 3,
              "ZeRO: stage {} does not exist (1: optimizer state, 2: also gradients, 3: also parameters)",
              options.stage);
  TORUS_CHECK(options.bucket_mb > 0, "ZeRO: bucket_mb must be positive, got {}", options.bucket_mb);
  if (stage_ == 3) {
    add_units(model);
  } else {
    // Reverse registration order: the last layers' gradients are final first.
    const auto bucket_elements = static_cast<int64_t>(options.bucket_mb * (1 << 20)) / 4;
    const NamedTensors parameters = model.named_parameters();
    for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
      const int64_t used = buckets_.empty() ? 0 : used_elements_of(buckets_.back());
      if (buckets_.empty() || used + it->second.numel() > bucket_elements) buckets_.emplace_back();
      Bucket& b = buckets_.back();
      b.offsets.push_back(used_elements_of(b));
      b.parameters.push_back(it->second);
      b.names.push_back(it->first);
    }
  }
  // The buckets, the shard and its gradients live where the parameters are.
  for (const Bucket& b : buckets_)
    if (!b.parameters.empty()) {
      device_ = b.parameters.front().device();
      break;
    }
  int64_t shard_elements = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    for (size_t j = 0; j < b.parameters.size(); ++j) {
      const Tensor& p = b.parameters[j];
      TORUS_CHECK(p.is_contiguous() && p.dtype() == DType::f32 && p.device() == device_,
                  "ZeRO: parameters must be contiguous f32 tensors on one device, got {} {} on {} for '{}' (the first "
                  "parameter is on {})",
                  dtype_name(p.dtype()), p.shape_str(), p.device().str(), b.names[j], device_.str());
    }
    b.padded = round_up(used_elements_of(b), kChunkAlignment * group.size());
    b.shard_offset = shard_elements;
    shard_elements += chunk(b);
    if (stage_ == 1) b.flat = Tensor::zeros({b.padded}, DType::f32, device_);
    // Stage 3 needs to know when a unit's backward is over even without reducing.
    if (!reduce_gradients_ && stage_ != 3) continue;
    for (const Tensor& p : b.parameters) {
      std::weak_ptr<bool> alive = alive_;
      p.register_grad_ready_hook([this, alive, i](Tensor&) {
        if (alive.lock()) on_gradient_ready(i);
      });
    }
  }
  shard_ = Tensor::zeros({shard_elements}, DType::f32, device_);
  shard_.set_requires_grad();  // a leaf the optimizer updates (only ever through its .grad)
  shard_grad_ = Tensor::zeros({shard_elements}, DType::f32, device_);
  if (stage_ == 3) install_forward_hooks(model);
}

std::vector<ZeroBucketLayout> ZeroSharding::layout() const {
  std::vector<ZeroBucketLayout> out;
  for (const Bucket& b : buckets_) out.push_back({b.names, b.offsets, b.padded, b.shard_offset});
  return out;
}

std::vector<ZeroPiece> ZeroSharding::owned_pieces() const {
  std::vector<ZeroPiece> pieces;
  for (const Bucket& b : buckets_) {
    const int64_t begin = group_.rank() * chunk(b), end = begin + chunk(b);
    for (size_t j = 0; j < b.parameters.size(); ++j) {
      const int64_t first = std::max(begin, b.offsets[j]);
      const int64_t last = std::min(end, b.offsets[j] + b.parameters[j].numel());
      if (first < last) pieces.push_back({b.names[j], first - b.offsets[j], last - first, b.shard_offset + first - begin});
    }
  }
  return pieces;
}

Tensor ZeroSharding::shard_of(const NamedTensors& whole) const {
  std::unordered_map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : whole) by_name[name] = &t;
  Tensor out = Tensor::zeros(shard_.shape());
  float* dst = out.data<float>();
  for (const ZeroPiece& piece : owned_pieces()) {
    const auto it = by_name.find(piece.name);
    TORUS_CHECK(it != by_name.end(), "ZeRO: no tensor for parameter '{}'", piece.name);
    const Tensor values = it->second->contiguous().to(DType::f32);
    TORUS_CHECK(values.numel() >= piece.start + piece.count, "ZeRO: the tensor for '{}' has {} elements, not {}",
                piece.name, values.numel(), piece.start + piece.count);
    std::memcpy(dst + piece.shard_position, values.data<float>() + piece.start,
                static_cast<size_t>(piece.count) * sizeof(float));
  }
  return out;
}

Tensor& ZeroSharding::flat(Bucket& b) {
  if (!b.flat.defined()) b.flat = Tensor::empty({b.padded}, DType::f32, device_);
  return b.flat;
}

Tensor ZeroSharding::rank_chunk(const Bucket& b) const { return b.flat.narrow(0, group_.rank() * chunk(b), chunk(b)); }

void ZeroSharding::pack_parameters(Bucket& b) {
  const Tensor& out = flat(b);
  zero_range(out, used_elements_of(b), b.padded);
  for (size_t j = 0; j < b.parameters.size(); ++j)
    out.narrow(0, b.offsets[j], b.parameters[j].numel()).copy_(flat_view(b.parameters[j]));
}

void ZeroSharding::broadcast_state() {
  {
    NoGradGuard no_grad;
    std::vector<comm::WorkPtr> pending;
    for (Bucket& b : buckets_)
      for (const Tensor& p : b.parameters) pending.push_back(group_.broadcast(p, 0));
    for (auto& w : pending) w->wait();
  }
  for (Bucket& b : buckets_) {
    pack_parameters(b);
    chunk_of(shard_, b).copy_(rank_chunk(b));
    if (stage_ >= 2) b.flat = Tensor();
    // Stage 3: from here on the shard is the only copy.
    if (stage_ == 3)
      for (const Tensor& p : b.parameters) p.storage()->replace_memory(nullptr, {});
  }
}

void ZeroSharding::prepare_backward(bool final) {
  final_pass_ = final;
  for (Bucket& b : buckets_) b.ready = 0;
}

void ZeroSharding::on_gradient_ready(size_t bucket) {
  Bucket& b = buckets_[bucket];
  if (stage_ == 3) {
    // The unit's backward is over: its parameters go until the next forward.
    if (++b.ready < static_cast<int64_t>(b.parameters.size())) return;
    if (reduce_gradients_ && final_pass_) launch(b);
    release(b);
    return;
  }
  if (!final_pass_) return;
  if (++b.ready == static_cast<int64_t>(b.parameters.size())) launch(b);
}

void ZeroSharding::take_reduced_gradients() {
  TORUS_CHECK(!reduce_gradients_, "ZeRO: take_reduced_gradients is for gradients summed elsewhere");
  for (Bucket& b : buckets_) {
    pack_gradients(b);
    chunk_of(shard_grad_, b).copy_(rank_chunk(b));
    if (stage_ >= 2) b.flat = Tensor();
    for (const Tensor& p : b.parameters) p.set_grad(Tensor());
    if (stage_ == 3) release(b);
  }
  shard_.set_grad(shard_grad_);
}

void ZeroSharding::pack_gradients(Bucket& b) {
  const Tensor& out = flat(b);
  zero_range(out, used_elements_of(b), b.padded);
  for (size_t j = 0; j < b.parameters.size(); ++j) {
    const Tensor grad = b.parameters[j].grad();
    const Tensor slot = out.narrow(0, b.offsets[j], b.parameters[j].numel());
    if (grad.defined()) {
      slot.copy_(flat_view(grad.contiguous()));
    } else {
      slot.fill_(0.0);  // a parameter this pass did not reach
    }
  }
}

void ZeroSharding::launch(Bucket& b) {
  pack_gradients(b);
  if (stage_ == 1) {
    b.work = group_.all_reduce(b.flat, comm::ReduceOp::average);
    return;
  }
  if (stage_ == 3)
    for (const Tensor& p : b.parameters) p.set_grad(Tensor());  // flat has them now
  b.work = group_.reduce_scatter(b.flat, chunk_of(shard_grad_, b), comm::ReduceOp::average);
}

void ZeroSharding::finish_gradients() {
  // Buckets whose hooks did not all fire (unused parameters) start here, in bucket order.
  for (Bucket& b : buckets_)
    if (!b.work) launch(b);
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.work.reset();
    if (stage_ == 1) {
      chunk_of(shard_grad_, b).copy_(rank_chunk(b));
    } else {
      b.flat = Tensor();
    }
    for (const Tensor& p : b.parameters) p.set_grad(Tensor());  // the shard holds what is needed
    if (stage_ == 3) release(b);
  }
  shard_.set_grad(shard_grad_);
}

Tensor ZeroSharding::clip_coefficient(double max_norm) {
  Tensor total = optim::squared_grad_norm({shard_});  // padding is zero: it adds nothing
  group_.all_reduce(total, comm::ReduceOp::sum)->wait();  // on a device: compute waits, the host does not
  return optim::clip_coefficient_of(total, max_norm);
}

void ZeroSharding::gather_parameters() {
  if (stage_ == 3) {
    // The next forward gathers each unit as it comes; the first ones can start now.
    if (model_unit_) start_gather(buckets_[0]);
    if (!forward_order_.empty()) start_gather(buckets_[forward_order_[0]]);
    return;
  }
  std::vector<comm::WorkPtr> pending;
  for (Bucket& b : buckets_) pending.push_back(group_.all_gather(chunk_of(shard_, b), flat(b)));
  NoGradGuard no_grad;
  for (size_t k = 0; k < buckets_.size(); ++k) {
    Bucket& b = buckets_[k];
    pending[k]->wait();
    for (size_t j = 0; j < b.parameters.size(); ++j)
      flat_view(b.parameters[j]).copy_(b.flat.narrow(0, b.offsets[j], b.parameters[j].numel()));
    if (stage_ == 2) b.flat = Tensor();
  }
}

ZeroMemory ZeroSharding::memory() const {
  ZeroMemory m;
  for (const Bucket& b : buckets_) {
    if (stage_ != 3)
      for (const Tensor& p : b.parameters) m.parameters += static_cast<int64_t>(p.nbytes());
    if (b.flat.defined()) m.gradients += static_cast<int64_t>(b.flat.nbytes());
  }
  if (stage_ == 3) m.parameters = static_cast<int64_t>(shard_.nbytes()) + gathered_bytes_;
  m.gradients += static_cast<int64_t>(shard_grad_.nbytes());
  m.peak_gathered = peak_gathered_bytes_;
  return m;
}

}  // namespace torus::parallel
