// Data parallelism over a process group: every rank holds the whole model, trains on its
// slice of each global batch, and averages gradients across ranks before the optimizer
// step. Gradients are packed into buckets in reverse registration order (the order
// backward finishes them); a bucket's all-reduce starts from the gradient-ready hook of
// its last parameter, while backward goes on with the layers before it.
//
// Parameters on a CUDA device take a device group (comm/device_process_group.h: NCCL):
// the buckets are device tensors, reduced in f32 (f64 stays f64) whatever the parameters'
// floating dtype, filled and emptied by copies on the compute stream. There Work::wait()
// does not block the host: it makes the compute stream wait for the all-reduce, so the
// optimizer's kernels queue behind it and the host runs ahead (nccl_process_group.h).
// Host parameters take a host group (MPI, or the world of one).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distributed/comm/process_group.h"
#include "framework/nn/module.h"

namespace torus::parallel {

struct DataParallelOptions {
  // Bucket size in MiB. Small enough that a model of a few MB (the W2 GPT's gradients
  // are 13 MB) still gets several buckets to overlap with backward; PyTorch's 25 MiB
  // would hold all of them in one, sent only when backward is over.
  double bucket_mb = 4;
};

// What communication cost the steps, as the compute thread sees it; cumulative over the
// steps (finish_gradients calls) since construction. Subtract two snapshots for a range.
//
// The all-reduces run on the process group's communication thread while backward goes on.
// Of the time a bucket's all-reduce runs there, what the step pays is what finish_gradients
// spends blocked in Work::wait(): `exposed_wait_s`. The rest ran under backward. So
//   hidden fraction = 1 - exposed_wait_s / (time the all-reduces ran on the communication thread).
// (With a device group the host never blocks in wait(), so exposed_wait_s stays near 0;
// what the step pays shows on the streams, in a device profile.)
// That denominator is measured on the communication thread (the group's op trace, which
// stamps each op's start and end there: bench/ddp_overlap_bench.cpp reads it), not here: the
// compute thread only learns that a bucket is done when it looks, which for the buckets
// finished during backward is long after the fact. Note that on cores shared by compute and
// communication, hidden communication still takes cycles from backward; the step time
// against one rank (weak scaling) is the full cost.
struct CommStats {
  int64_t steps = 0;                  // finish_gradients calls
  int64_t buckets_launched = 0;       // all-reduces started
  int64_t buckets_launched_late = 0;  // of them, by finish_gradients (hooks that never fired)
  int64_t bytes_reduced = 0;          // bucket bytes all-reduced
  double backward_after_launch_s = 0;  // from a step's first launch to finish_gradients: the
                                       // backward time its all-reduces can hide behind
  double exposed_wait_s = 0;          // blocked in Work::wait() inside finish_gradients
  double finish_s = 0;                // all of finish_gradients (the waits + copying gradients back)

  CommStats operator-(const CommStats& earlier) const;
  // 1 - exposed_wait_s / allreduce_busy_s, for the communication thread's busy time of the
  // same steps; 0 when there was none.
  double hidden_fraction(double allreduce_busy_s) const;
  // One line for logs: per-step figures of the above.
  std::string describe() const;
};

class DataParallel {
 public:
  // Registers gradient hooks on every parameter of `model`, which must outlive this.
  // Every parameter must be contiguous and on one device; `group` must take that device's
  // tensors (a host group for the cpu, a device group for cuda:N), else a ValueError.
  DataParallel(Module& model, comm::ProcessGroup& group, const DataParallelOptions& options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Makes every rank start from rank 0's parameters and buffers.
  void broadcast_state();
  // Call before each backward of a step: only the last micro-batch's backward (`final`)
  // communicates, so gradient accumulation costs one all-reduce per bucket per step.
  void prepare_backward(bool final);
  // Waits for every bucket (starting any whose gradients never arrived: unused
  // parameters get zeros) and writes the averaged gradients back into .grad.
  void finish_gradients();

  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  std::vector<int64_t> bucket_bytes() const;
  CommStats communication_stats() const { return stats_; }

 private:
  struct Bucket {
    DType dtype = DType::f32;  // what the all-reduce sums in
    std::vector<Tensor> parameters;
    std::vector<int64_t> offsets;  // element offset of each parameter in `flat`
    Tensor flat;
    int64_t ready = 0;
    comm::WorkPtr work;
  };
  void on_gradient_ready(size_t bucket, size_t index);
  void launch(Bucket& bucket);
  // Gradients into the bucket, and the reduced bucket back into .grad (host: memcpy;
  // device: copies on the compute stream, converting dtypes).
  void fill_bucket(Bucket& bucket);
  void empty_bucket(Bucket& bucket);
  using Clock = std::chrono::steady_clock;

  comm::ProcessGroup& group_;
  Device device_;  // of every parameter and bucket
  std::vector<Bucket> buckets_;
  bool final_pass_ = true;
  CommStats stats_;
  Clock::time_point first_launch_{};  // of the current step; {} before its first launch
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // hooks outlive this object
};

}  // namespace torus::parallel
