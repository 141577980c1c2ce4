// Data parallelism over a process group: every rank holds the whole model, trains on its
// slice of each global batch, and averages gradients across ranks before the optimizer
// step. Gradients are packed into buckets in reverse registration order (the order
// backward finishes them); a bucket's all-reduce starts from the gradient-ready hook of
// its last parameter, while backward goes on with the layers before it.
#pragma once

#include <cstdint>
#include <memory>
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

class DataParallel {
 public:
  // Registers gradient hooks on every parameter of `model`, which must outlive this.
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

 private:
  struct Bucket {
    std::vector<Tensor> parameters;
    std::vector<int64_t> offsets;  // element offset of each parameter in `flat`
    Tensor flat;
    int64_t ready = 0;
    comm::WorkPtr work;
  };
  void on_gradient_ready(size_t bucket, size_t index);
  void launch(Bucket& bucket);

  comm::ProcessGroup& group_;
  std::vector<Bucket> buckets_;
  bool final_pass_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // hooks outlive this object
};

}  // namespace torus::parallel
