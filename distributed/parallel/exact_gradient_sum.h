// ExactGradientSum: the gradient reduction of reproducible mode. The global batch is cut
// into a fixed number of virtual shards whatever the number of ranks; each rank runs
// forward and backward once per shard it holds, so every shard's gradient is computed
// the same way on 1 rank or on N. Shard gradients are then summed exactly: each is
// turned into 64-bit fixed point with a per-tensor scale that depends only on the largest
// magnitude over all shards (a max, which is exact in any order), the integers are added
// (exact and associative: any grouping over shards and ranks gives the same integer,
// so the usual all-reduce can do it), and the sum is turned back into floating point.
//
// The scale leaves log2(shards) bits of headroom below 2^62: the sum cannot overflow, and
// each value is rounded to 62 - ceil(log2 shards) bits below the tensor's largest
// magnitude, finer than f32's 24. Only those roundings (the same for a shard whatever the
// rank layout) and the last conversion touch the result: no summation order does.
// A non-finite gradient makes the whole tensor NaN, as a float sum would.
//
// Memory: each rank keeps its shards' gradients until the step's reduction (shards /
// ranks copies of the gradients) plus one 64-bit accumulator per gradient element, all on
// the host. Parameters on a device work the same way through host copies: each shard's
// gradients are gathered into one flat device buffer and copied to the host in one copy as
// they are kept, summed there over the host group, and the sums copied back in one copy,
// .grad viewing it; which makes the result independent of the rank count as long as each
// shard's backward is deterministic on the device (see docs/CUDA.md).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "distributed/comm/process_group.h"
#include "framework/tensor/tensor.h"

namespace torus::parallel {

class ExactGradientSum {
 public:
  // `total_shards`: virtual shards per global batch, over all ranks; each rank holds
  // total_shards / world of them. Parameters must be contiguous f32 or f64 tensors on the
  // host, or contiguous f32 tensors on one device; `group` is a host group (MPI, local)
  // either way.
  ExactGradientSum(std::vector<Tensor> parameters, comm::ProcessGroup& group, int64_t total_shards);

  int64_t shards_per_rank() const { return shards_per_rank_; }
  // Makes every rank start from rank 0's parameters (bit for bit).
  void broadcast_parameters();
  // Keeps the gradients now in .grad as this rank's shard `shard` (0-based, in order) and
  // clears .grad for the next shard's backward. A parameter without a gradient counts 0.
  void keep_shard(int64_t shard);
  // Sums every rank's shards exactly and writes the result into .grad.
  void finish();
  // Bytes of the buffers kept across steps: the shards' gradients and the fixed-point sums
  // (and on a device the flat buffer a shard's gradients are gathered in).
  int64_t buffer_bytes() const;

 private:
  // Parameter j's part of a flat [elements] buffer, in its shape.
  Tensor flat_part(const Tensor& flat, size_t j) const;

  std::vector<Tensor> parameters_;
  comm::ProcessGroup& group_;
  int64_t total_shards_;
  int64_t shards_per_rank_;
  std::vector<int64_t> offsets_;           // of each parameter in `sums_`
  std::vector<std::vector<Tensor>> kept_;  // [shard][parameter]: exact copies of the gradients
  // Parameters on a device: kept_[shard] views host f32 [elements] kept_flat_[shard], which
  // one copy fills from device_flat_, where the shard's gradients are gathered.
  std::optional<Device> device_;
  std::vector<Tensor> kept_flat_;
  Tensor device_flat_;
  Tensor local_max_;                       // f64 [parameters]: this rank's largest magnitudes
  Tensor max_abs_;                         // f64 [world * parameters]: every rank's
  Tensor sums_;                            // i64 [elements]: the fixed-point sums
};

}  // namespace torus::parallel
