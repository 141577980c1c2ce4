// ZeRO stage 3's life cycle of parameters (see zero_sharding.h): a unit's parameters are
// gathered into one buffer they point into, used, and freed, by hooks around the units'
// forward and by a pass-through node at each unit's output that backward reaches before
// anything inside the unit. Which units are gathered when depends only on the model and
// the order of its calls, so every rank issues the same collectives in the same order.
#include <fmt/format.h>

#include "distributed/parallel/zero_sharding.h"
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"

namespace torus::parallel {

ZeroSharding::~ZeroSharding() {
  *alive_ = false;
  if (stage_ != 3) return;  // as DataParallel: queued ops hold their own references
  model_.set_forward_hooks(nullptr);
  for (Bucket& b : buckets_)
    if (b.layer != &model_) b.layer->set_forward_hooks(nullptr);
}

void ZeroSharding::add_units(Layer& model) {
  for (ZeroUnit& unit : find_zero_units(model)) {
    Bucket& b = buckets_.emplace_back();
    b.layer = unit.layer;
    for (auto& [name, p] : unit.parameters) {
      // The gathered buffer replaces the parameter's whole memory.
      TORUS_CHECK(p.offset() == 0 && p.storage()->nbytes() == p.nbytes(),
                  "ZeRO stage 3: parameter '{}' is a view into a larger buffer; parameters must own their memory",
                  name);
      b.offsets.push_back(used_elements_of(b));
      b.parameters.push_back(p);
      b.names.push_back(name);
    }
  }
  model_unit_ = !buckets_.empty() && buckets_[0].layer == &model;
}

void ZeroSharding::install_forward_hooks(Layer& model) {
  std::weak_ptr<bool> alive = alive_;
  for (size_t i = model_unit_ ? 1 : 0; i < buckets_.size(); ++i) {
    auto hooks = std::make_shared<Layer::ForwardHooks>();
    hooks->before = [this, alive, i] {
      if (alive.lock()) before_forward(i);
    };
    hooks->after = [this, alive, i](const Tensor& output) {
      return alive.lock() ? after_forward(i, output) : output;
    };
    buckets_[i].layer->set_forward_hooks(std::move(hooks));
  }
  // The model's own hooks mark where a forward starts and ends.
  auto hooks = std::make_shared<Layer::ForwardHooks>();
  hooks->before = [this, alive] {
    if (!alive.lock()) return;
    recording_.clear();
    for (Bucket& b : buckets_) b.ready = 0;  // a new pass (reproducible mode has no prepare_backward)
    if (model_unit_) ensure_gathered(buckets_[0]);
    prefetch(0);
  };
  hooks->after = [this, alive](const Tensor& output) {
    if (!alive.lock()) return output;
    forward_order_ = recording_;
    for (size_t p = 0; p < forward_order_.size(); ++p)
      buckets_[forward_order_[p]].forward_position = static_cast<int>(p);
    // Without a backward to come, the model's own parameters are done too.
    if (model_unit_ && !(GradMode::enabled() && output.requires_grad())) release(buckets_[0]);
    return output;
  };
  model.set_forward_hooks(std::move(hooks));
}

void ZeroSharding::prefetch(int forward_position) {
  if (forward_position >= 0 && forward_position < static_cast<int>(forward_order_.size()))
    start_gather(buckets_[forward_order_[static_cast<size_t>(forward_position)]]);
}

void ZeroSharding::start_gather(Bucket& b) {
  if (b.gathered.defined()) return;  // gathered, or on its way
  b.gathered = Tensor::empty({b.padded}, DType::f32, device_);
  gathered_bytes_ += static_cast<int64_t>(b.gathered.nbytes());
  if (!materialized_) peak_gathered_bytes_ = std::max(peak_gathered_bytes_, gathered_bytes_);
  b.gather_work = group_.all_gather(chunk_of(shard_, b), b.gathered);
}

void ZeroSharding::ensure_gathered(Bucket& b) {
  start_gather(b);
  if (b.gather_work) {
    b.gather_work->wait();
    b.gather_work.reset();
  }
  if (b.bound) return;
  auto* base = static_cast<float*>(b.gathered.raw_data());  // host or device memory, as the storage's
  for (size_t j = 0; j < b.parameters.size(); ++j) {
    // The parameter keeps the buffer alive while it points into it.
    b.parameters[j].storage()->replace_memory(base + b.offsets[j], [keep = b.gathered.storage()](void*) {});
  }
  b.bound = true;
}

void ZeroSharding::release(Bucket& b) {
  if (!b.gathered.defined()) return;
  if (b.gather_work) {  // prefetched but not used: the collective still has to finish
    b.gather_work->wait();
    b.gather_work.reset();
  }
  if (b.bound)
    for (const Tensor& p : b.parameters) p.storage()->replace_memory(nullptr, {});
  b.bound = false;
  gathered_bytes_ -= static_cast<int64_t>(b.gathered.nbytes());
  b.gathered = Tensor();
}

void ZeroSharding::before_forward(size_t bucket) {
  Bucket& b = buckets_[bucket];
  recording_.push_back(bucket);
  ensure_gathered(b);
  prefetch(b.forward_position + 1);
}

Tensor ZeroSharding::after_forward(size_t bucket, const Tensor& output) {
  release(buckets_[bucket]);
  if (!GradMode::enabled() || !output.requires_grad()) return output;
  // Backward reaches this node before any node of the unit: gather the parameters again.
  std::weak_ptr<bool> alive = alive_;
  return record(fmt::format("zero3_gather({})", buckets_[bucket].names.front()), output.detach(), {output},
                [this, alive, bucket](const Tensor& grad) {
                  if (alive.lock()) before_backward(bucket);
                  return std::vector<Tensor>{grad};
                });
}

void ZeroSharding::before_backward(size_t bucket) {
  Bucket& b = buckets_[bucket];
  ensure_gathered(b);
  if (b.forward_position > 0) prefetch(b.forward_position - 1);
}

void ZeroSharding::materialize_parameters() {
  if (stage_ != 3) return;
  materialized_ = true;
  for (Bucket& b : buckets_) start_gather(b);
  for (Bucket& b : buckets_) ensure_gathered(b);
}

void ZeroSharding::release_parameters() {
  if (stage_ != 3) return;
  for (Bucket& b : buckets_) release(b);
  materialized_ = false;
}

}  // namespace torus::parallel
