// ZeroSharding: ZeRO stages 1, 2 and 3 over a process group. The optimizer sees only this
// rank's shard of the parameters, so its state (momentum, Adam's moments) is 1/world of
// the model's:
//   stage 1: every rank holds the whole model; gradients are averaged in full (all-reduce,
//            as data parallelism does); each rank keeps its shard of them, updates its
//            shard, and the shards are all-gathered back into every rank's parameters;
//   stage 2: as 1, but gradients are reduce-scattered, so a rank only ever holds its
//            shard of the averaged gradients, and .grad is released as soon as a bucket
//            has taken it;
//   stage 3: as 2, and between uses a rank holds only its shard of the parameters too.
//            The model is cut into units (zero_units.h); a unit's parameters are
//            all-gathered just before its forward (the next unit's gather is started
//            then, to overlap), freed after it, gathered again when backward reaches the
//            unit's output (prefetching the unit before it), and freed once their
//            gradients are reduce-scattered. The model's own unit stays gathered from
//            forward to the end of backward. With gradient accumulation, gradients add
//            up whole in .grad until the last micro-batch reduce-scatters them (as in
//            stage 2 and FSDP's no_sync): the sums of stage 0, at the memory of whole
//            gradients while accumulating.
//
// Shard layout (what checkpoints reshard from; layout() lists it): parameters are packed
// into buckets of whole tensors, in stages 1 and 2 in reverse registration order, as
// DataParallel does (a bucket closes before it passes bucket_mb); in stage 3 one bucket
// per unit, in the order of find_zero_units, a unit's parameters in registration order.
// A bucket of n elements is padded with zeros to L = n rounded up to a multiple of
// 16 x world, and cut into world chunks of L / world; rank r owns chunk r of every
// bucket. Its shard is those chunks one after another, bucket by bucket: element e of
// bucket k sits on rank e / (L_k / world), at position offset_k + e mod (L_k / world) of
// that rank's shard, where offset_k is the sum of the chunks of the buckets before k.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distributed/comm/process_group.h"
#include "distributed/parallel/zero_units.h"
#include "framework/nn/module.h"

namespace torus::parallel {

struct ZeroOptions {
  int stage = 1;         // 1, 2 or 3
  double bucket_mb = 4;  // as DataParallelOptions (stages 1 and 2)
  // False: gradients arrive already summed over the ranks (reproducible mode's exact sum)
  // and take_reduced_gradients() shards them; no gradient communication.
  bool reduce_gradients = true;
};

// Bytes one rank holds for the model.
struct ZeroMemory {
  int64_t parameters = 0;       // between steps: the whole model (stages 1, 2), or the shard (3)
  int64_t gradients = 0;        // gradient buffers kept across the step
  int64_t optimizer_state = 0;  // filled in by the caller from its optimizer
  int64_t peak_gathered = 0;    // stage 3: most parameter bytes gathered at once in training
};

// One bucket of the shard layout: its parameters (dotted names) at element offsets.
struct ZeroBucketLayout {
  std::vector<std::string> names;
  std::vector<int64_t> offsets;
  int64_t padded = 0;        // L
  int64_t shard_offset = 0;  // where this bucket's chunk starts in every rank's shard
};

// A slice of one parameter that this rank's shard holds: elements [start, start + count)
// of the flattened parameter sit at shard_position of the shard.
struct ZeroPiece {
  std::string name;
  int64_t start = 0, count = 0, shard_position = 0;
};

class ZeroSharding {
 public:
  // Registers gradient hooks on every parameter of `model` (which must outlive this) and,
  // for stage 3, forward hooks on its units. Parameters must be contiguous f32 tensors on one
  // device, the host or cuda:N; the buckets and the shard are made there, and `group` must
  // take that device's tensors (a device group, see comm/device_process_group.h).
  ZeroSharding(Layer& model, comm::ProcessGroup& group, const ZeroOptions& options);
  ~ZeroSharding();
  ZeroSharding(const ZeroSharding&) = delete;
  ZeroSharding& operator=(const ZeroSharding&) = delete;

  // The tensor the optimizer updates: this rank's shard (its .grad is set by finish_gradients).
  const Tensor& shard() const { return shard_; }
  int stage() const { return stage_; }
  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  std::vector<ZeroBucketLayout> layout() const;
  // This rank's pieces of the parameters, in shard order (what a checkpoint saves).
  std::vector<ZeroPiece> owned_pieces() const;
  // A tensor of the shard's shape holding this rank's pieces of `whole` (one tensor per
  // parameter name, flattened in the parameters' order), zeros in the padding: how a
  // checkpoint's whole optimizer state becomes this rank's, at any world size.
  Tensor shard_of(const NamedTensors& whole) const;

  // Makes every rank start from rank 0's parameters, and fills the shard from them
  // (stage 3: then frees the parameters).
  void broadcast_state();
  // As DataParallel: only the final micro-batch's backward communicates.
  void prepare_backward(bool final);
  // Waits for every bucket and leaves this rank's shard of the averaged gradients in
  // shard().grad(); the parameters' own .grad are released.
  void finish_gradients();
  // Without reduce_gradients: takes this rank's shard of the gradients now in .grad (the
  // same on every rank) into shard().grad(), and releases .grad.
  void take_reduced_gradients();
  // The coefficient that clips by the global 2-norm over every rank's shard (as
  // optim::clip_coefficient over the whole model), for the optimizer's step on shard():
  // 0-dim on the shard's device, reduced over the group without reading it back.
  Tensor clip_coefficient(double max_norm);
  // After the optimizer's step on shard(): all-gathers the shards into every parameter
  // (stage 3: starts gathering the first unit the next forward uses).
  void gather_parameters();
  // Stage 3: gathers every parameter (to save or inspect the whole model) until
  // release_parameters(); no-ops in stages 1 and 2. Collective: every rank calls them.
  void materialize_parameters();
  void release_parameters();

  ZeroMemory memory() const;

 private:
  struct Bucket {
    std::vector<Tensor> parameters;
    std::vector<std::string> names;
    std::vector<int64_t> offsets;  // element offset of each parameter in the bucket
    int64_t padded = 0;            // L: elements with padding, a multiple of 16 x world
    int64_t shard_offset = 0;      // where this bucket's chunk starts in the shard
    Tensor flat;                   // [L]: gradients in, then parameters out (stages 2, 3: only while used)
    int64_t ready = 0;
    comm::WorkPtr work;            // the gradients' all-reduce or reduce-scatter
    // Stage 3.
    Layer* layer = nullptr;
    Tensor gathered;               // [L]: the parameters' memory while gathered
    comm::WorkPtr gather_work;     // the all-gather into `gathered`, until waited for
    bool bound = false;            // the parameters point into `gathered`
    int forward_position = -1;     // in the last forward's order of units
  };
  int64_t chunk(const Bucket& b) const { return b.padded / group_.size(); }
  static int64_t used_elements_of(const Bucket& b) {
    return b.parameters.empty() ? 0 : b.offsets.back() + b.parameters.back().numel();
  }
  Tensor chunk_of(const Tensor& t, const Bucket& b) const { return t.narrow(0, b.shard_offset, chunk(b)); }
  Tensor rank_chunk(const Bucket& b) const;  // this rank's chunk of b.flat
  Tensor& flat(Bucket& b);
  void pack_parameters(Bucket& b);
  void pack_gradients(Bucket& b);  // .grad (zeros where none) and zero padding into flat(b)
  void on_gradient_ready(size_t bucket);
  void launch(Bucket& b);
  // Stage 3.
  void add_units(Layer& model);
  void install_forward_hooks(Layer& model);
  void start_gather(Bucket& b);
  void ensure_gathered(Bucket& b);
  void release(Bucket& b);
  void before_forward(size_t bucket);
  Tensor after_forward(size_t bucket, const Tensor& output);
  void before_backward(size_t bucket);
  void prefetch(int forward_position);

  comm::ProcessGroup& group_;
  Device device_;  // the parameters'
  int stage_;
  bool reduce_gradients_;
  Layer& model_;
  std::vector<Bucket> buckets_;
  Tensor shard_;       // [sum of chunks]: this rank's parameters, what the optimizer updates
  Tensor shard_grad_;  // the same shape: this rank's averaged gradients
  bool final_pass_ = true;
  // Stage 3: the model's own unit (bucket 0) or none; the units in the last forward's
  // order, and the one being recorded; gathered bytes now and at most.
  bool model_unit_ = false;
  std::vector<size_t> forward_order_, recording_;
  int64_t gathered_bytes_ = 0, peak_gathered_bytes_ = 0;  // the peak of training, not of materialize
  bool materialized_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // hooks outlive this object
};

}  // namespace torus::parallel
