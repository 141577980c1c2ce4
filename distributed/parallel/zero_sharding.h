// ZeroSharding: ZeRO stages 1 and 2 over a process group. Every rank holds the whole model
// for forward and backward; the optimizer sees only this rank's shard of the parameters,
// so its state (momentum, Adam's moments) is 1/world of the model's:
//   stage 1: gradients are averaged in full (all-reduce, as data parallelism does); each
//            rank keeps its shard of them, updates its shard, and the shards are
//            all-gathered back into every rank's parameters;
//   stage 2: as 1, but gradients are reduce-scattered, so a rank only ever holds its
//            shard of the averaged gradients, and .grad is released as soon as a bucket
//            has taken it.
// Stage 3 (parameters sharded between uses) is not built.
//
// Shard layout (what checkpoints reshard from): parameters are packed into buckets in
// reverse registration order, as DataParallel does (whole tensors; a bucket closes before
// it passes bucket_mb). A bucket of n elements is padded with zeros to L = n rounded up to
// a multiple of 16 x world, and cut into world chunks of L / world; rank r owns chunk r of
// every bucket. Its shard is those chunks one after another, bucket by bucket: element e
// of bucket k sits on rank e / (L_k / world), at position offset_k + e mod (L_k / world)
// of that rank's shard, where offset_k is the sum of the chunks of the buckets before k.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/comm/process_group.h"
#include "framework/nn/module.h"

namespace torus::parallel {

struct ZeroOptions {
  int stage = 1;         // 1 or 2
  double bucket_mb = 4;  // as DataParallelOptions
  // False: gradients arrive already summed over the ranks (reproducible mode's exact sum)
  // and take_reduced_gradients() shards them; no hooks, no gradient communication.
  bool reduce_gradients = true;
};

// Bytes one rank holds for the model between steps.
struct ZeroMemory {
  int64_t parameters = 0;       // the full model (stages 1 and 2 keep it on every rank)
  int64_t gradients = 0;        // gradient buffers kept across the step
  int64_t optimizer_state = 0;  // filled in by the caller from its optimizer
};

class ZeroSharding {
 public:
  // Registers gradient hooks on every parameter of `model` (which must outlive this);
  // parameters must be contiguous f32 host tensors.
  ZeroSharding(Module& model, comm::ProcessGroup& group, const ZeroOptions& options);
  ~ZeroSharding();
  ZeroSharding(const ZeroSharding&) = delete;
  ZeroSharding& operator=(const ZeroSharding&) = delete;

  // The tensor the optimizer updates: this rank's shard (its .grad is set by finish_gradients).
  const Tensor& shard() const { return shard_; }
  int stage() const { return stage_; }
  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

  // Makes every rank start from rank 0's parameters, and fills the shard from them.
  void broadcast_state();
  // As DataParallel: only the final micro-batch's backward communicates.
  void prepare_backward(bool final);
  // Waits for every bucket and leaves this rank's shard of the averaged gradients in
  // shard().grad(); the parameters' own .grad are released.
  void finish_gradients();
  // Without reduce_gradients: takes this rank's shard of the gradients now in .grad (the
  // same on every rank) into shard().grad(), and releases .grad.
  void take_reduced_gradients();
  // Clips by the global 2-norm over every rank's shard (as optim::clip_grad_norm over
  // the whole model); returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  // After the optimizer's step on shard(): all-gathers the shards into every parameter.
  void gather_parameters();

  ZeroMemory memory() const;

 private:
  struct Bucket {
    std::vector<Tensor> parameters;
    std::vector<int64_t> offsets;  // element offset of each parameter in the bucket
    int64_t padded = 0;            // L: elements with padding, a multiple of 16 x world
    int64_t shard_offset = 0;      // where this bucket's chunk starts in the shard
    Tensor flat;                   // [L]: gradients in, then parameters out (stage 2: only while used)
    int64_t ready = 0;
    comm::WorkPtr work;
  };
  int64_t chunk(const Bucket& b) const { return b.padded / group_.size(); }
  Tensor& flat(Bucket& b);
  void pack_parameters(Bucket& b);
  void pack_gradients(Bucket& b);  // .grad (zeros where none) and zero padding into flat(b)
  void on_gradient_ready(size_t bucket);
  void launch(Bucket& b);

  comm::ProcessGroup& group_;
  int stage_;
  bool reduce_gradients_;
  std::vector<Bucket> buckets_;
  Tensor shard_;       // [sum of chunks]: this rank's parameters, what the optimizer updates
  Tensor shard_grad_;  // the same shape: this rank's averaged gradients
  bool final_pass_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // hooks outlive this object
};

}  // namespace torus::parallel
