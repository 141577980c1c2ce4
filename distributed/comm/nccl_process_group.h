// NcclProcessGroup: the ProcessGroup interface for device tensors (TORUS_WITH_NCCL), over one
// NCCL communicator per process on one CUDA device.
//
// Bootstrap and coordination go through a host process group (MPI under mpirun, or the world
// of one): the NCCL unique id is made on rank 0 and broadcast over it (nccl_bootstrap.h), and
// its abort_job ends the job. The group either borrows that host group (it must outlive this
// one: one MpiProcessGroup exists per process, and other code uses it too) or owns it.
//
// Streams: every collective runs on the device's communication stream
// (cuda::device_context(device).comm_stream()). Before it, that stream waits for everything
// issued to the compute stream so far (an event, no host sync), and the tensors' blocks are
// announced to the caching allocator on the communication stream (record_stream), so a
// tensor freed before the op ends keeps its memory until the op is done.
//
// Which calls block the host:
// - all_reduce, reduce_scatter, all_gather, broadcast: never (they enqueue). Their Work's
//   wait() makes the compute stream wait for the op's completion event and returns at once,
//   so a gradient bucket's all-reduce overlaps the rest of backward; kernels on the compute
//   stream issued after wait() see the result. With NcclOptions::blocking_wait, wait() also
//   blocks the host until the op is done (as synchronize() does).
// - NcclWork::synchronize(), NcclProcessGroup::synchronize(), barrier()'s wait(): block the
//   host, polling the op's event and ncclCommGetAsyncError, for at most timeout_seconds.
//   barrier is an all-reduce of one device int on the communication stream (so it also
//   waits for every op and compute kernel issued before it on this rank), then such a wait.
// - the constructor (ncclCommInitRank, collective) and the destructor (waits for issued ops,
//   with the timeout, then ncclCommDestroy).
// A host that reads results (a device-to-host copy on the compute stream, after wait())
// needs nothing more. A blocking wait past the timeout, or an asynchronous NCCL error,
// aborts the communicator (ncclCommAbort: its kernels stop) and throws an error naming the
// rank, the op, its sequence number and the seconds waited, with this rank's op trace; the
// group is then unusable (later ops throw at once), as the MPI group after a timeout.
// Non-blocking wait() cannot time out: it checks for asynchronous errors once only.
//
// Reductions: sum (ncclSum) and average (ncclAvg, NCCL >= 2.10: divided on the device, in
// the reduction). Reducible dtypes are the interface's (f32, f64, bf16, i32, i64);
// all_gather and broadcast move any dtype. Unlike the MPI group, bf16 sums are NCCL's: each
// partial sum rounds to bf16 (as PyTorch's NCCL backend).
//
// Not handled: a rank that never issues its first op can hang the host inside that op's
// call (NCCL connects peers lazily, on first use); NCCL_RUNTIME_CONNECT=0 moves that into
// the constructor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nccl.h>

#include "distributed/comm/process_group.h"

namespace torus::comm {

// Pure mappings (no GPU needed). Every DType has an NCCL type; f16 is ncclFloat16.
ncclDataType_t nccl_data_type(DType dtype);
ncclRedOp_t nccl_reduce_op(ReduceOp op);

struct NcclOptions {
  int device = -1;             // CUDA device of this rank; -1: local_rank % device_count
  bool blocking_wait = false;  // Work::wait() also blocks the host, with the timeout
};

class NcclProcessGroup final : public ProcessGroup {
 public:
  // Collective over `host` (every rank calls it): every rank checks it has a CUDA device
  // (all throw alike if one has none), then the NCCL bootstrap. Borrows `host`.
  NcclProcessGroup(ProcessGroup& host, const ProcessGroupOptions& options = {},
                   const NcclOptions& nccl = {});
  // The same, owning `host`.
  NcclProcessGroup(std::unique_ptr<ProcessGroup> host, const ProcessGroupOptions& options = {},
                   const NcclOptions& nccl = {});
  ~NcclProcessGroup() override;
  NcclProcessGroup(const NcclProcessGroup&) = delete;
  NcclProcessGroup& operator=(const NcclProcessGroup&) = delete;

  const WorldInfo& world() const override;
  std::string backend_name() const override { return "nccl"; }

  WorkPtr all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  WorkPtr reduce_scatter(const Tensor& input, const Tensor& output,
                         ReduceOp op = ReduceOp::sum) override;
  WorkPtr all_gather(const Tensor& input, const Tensor& output) override;
  WorkPtr broadcast(const Tensor& tensor, int root) override;
  // Blocking: see the top of this file.
  WorkPtr barrier() override;

  std::string trace() const override;
  // ncclCommAbort, then the host group's abort_job (which ends every rank).
  [[noreturn]] void abort_job(const std::string& reason) override;
  uint64_t next_sequence() const override;

  // Blocks the host until every op issued so far has finished, with the timeout.
  void synchronize();
  // Aborts the communicator without ending the job (for a caller that handles an error seen
  // elsewhere); later ops throw, naming `reason`.
  void abort_communicator(const std::string& reason);
  int device() const;
  ProcessGroup& host() { return *host_; }

  // The device this rank uses: `requested`, or local_rank % device_count when it is -1.
  // Throws naming the reason when there is no device or `requested` is out of range.
  static int choose_device(int requested, int local_rank, int device_count);
  // The checks of a device tensor for this group's device: defined, on cuda:`device`,
  // contiguous; the error names op, what, and the device found.
  static void check_device_tensor(const char* op, const Tensor& tensor, const char* what,
                                  int device);

  struct Shared;  // state the Work handles share with the group (nccl_process_group.cpp)

 private:
  void start(const ProcessGroupOptions& options, const NcclOptions& nccl);

  std::unique_ptr<ProcessGroup> owned_host_;  // null when borrowed
  ProcessGroup* host_;
  std::shared_ptr<Shared> shared_;
};

// The handle of one NCCL op. wait(): see the top of nccl_process_group.h.
class NcclWork : public Work {
 public:
  using Work::Work;
  // Blocks the host until this op has finished on the device, for at most the group's
  // timeout; throws CommTimeoutError past it, or the NCCL error that ended the op.
  virtual void synchronize() = 0;
};

}  // namespace torus::comm
