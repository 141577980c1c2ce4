// LocalProcessGroup: the world of one. Every collective is the identity (or a copy into
// the output), runs at once and returns a completed Work; arguments are checked as the
// MPI backend checks them, so code that runs here runs on N ranks.
#pragma once

#include "distributed/comm/op_trace.h"
#include "distributed/comm/process_group.h"

namespace torus::comm {

class LocalProcessGroup final : public ProcessGroup {
 public:
  explicit LocalProcessGroup(const ProcessGroupOptions& options = {});

  const WorldInfo& world() const override { return world_; }
  std::string backend_name() const override { return "local"; }

  WorkPtr all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  WorkPtr reduce_scatter(const Tensor& input, const Tensor& output,
                         ReduceOp op = ReduceOp::sum) override;
  WorkPtr all_gather(const Tensor& input, const Tensor& output) override;
  WorkPtr broadcast(const Tensor& tensor, int root) override;
  WorkPtr barrier() override;

  std::string trace() const override;
  [[noreturn]] void abort_job(const std::string& reason) override;
  uint64_t next_sequence() const override { return next_sequence_; }

 private:
  // Records a finished op in the trace and returns its handle.
  WorkPtr completed(std::string label, const Tensor* tensor, size_t bytes);

  WorldInfo world_;
  OpTrace trace_;
  uint64_t next_sequence_ = 1;
};

// This machine's host name.
std::string local_host_name();

}  // namespace torus::comm
