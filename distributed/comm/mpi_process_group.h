// MpiProcessGroup: collectives on host tensors over MPI_COMM_WORLD (Open MPI).
//
// One communication thread per rank owns MPI: it initialises MPI (asking for
// MPI_THREAD_MULTIPLE, so that abort_job can call MPI_Abort from any thread while that
// thread is inside a collective), makes every MPI collective call, and finalises MPI. Ops are
// queued and run in issue order, so the caller's compute continues while they run.
// Every MPI call is checked (TORUS_MPI); the group's communicator returns errors
// instead of aborting. A wait() past the group's timeout throws CommTimeoutError with
// the op, its sequence number, the time waited, the ranks that did not arrive (asked by
// the StallInspector) and this rank's collective trace; the
// group is then unusable (its thread may never come back from MPI), and the job should
// be ended with abort_job().
//
// All-reduces of at least options.shm_min_bytes run through shared memory within each
// node and MPI between nodes (ShmCollectives), when some node holds more than one rank;
// so do reduce-scatters of that size when the whole world is one node. On one node, so do
// all-reduces and reduce-scatters of at most options.shm_inline_max_bytes, and those run
// on the caller's thread when no op is queued or running before them: a hand-off to the
// communication thread costs more than the op (mpirun binds a rank to one core, which the
// two threads then share). Which path an op takes depends only on what every rank knows
// alike (its size, the layout of the nodes), never on the queue; where it runs does not
// change its protocol. Shared memory on one node calls no MPI, so the caller's thread
// makes no MPI calls either, except the stall inspector's after a timeout (allowed by
// MPI_THREAD_MULTIPLE).
//
// bf16 reductions convert to f32 (in chunks of kBf16ChunkElements for all_reduce; the
// whole input for reduce_scatter), reduce in f32 and round once: the result is the f32
// sum rounded to bf16 on every rank, for twice the bytes on the wire of a bf16 user op
// (which would round after every partial sum).
//
// One MpiProcessGroup per process at a time, and one for the life of the process if it
// initialised MPI (MPI cannot be initialised again after MPI_Finalize).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "distributed/comm/comm_thread.h"
#include "distributed/comm/mpi_error.h"
#include "distributed/comm/op_trace.h"
#include "distributed/comm/process_group.h"
#include "distributed/comm/shm_collectives.h"
#include "distributed/comm/stall_inspector.h"

namespace torus::comm {

class MpiProcessGroup final : public ProcessGroup {
 public:
  static constexpr int64_t kBf16ChunkElements = int64_t{1} << 20;  // 4 MiB of f32 scratch
  static constexpr int64_t kMaxCountPerCall = int64_t{1} << 30;    // MPI counts are int

  explicit MpiProcessGroup(const ProcessGroupOptions& options = {});
  // Finalises MPI (if this group initialised it) after the queued ops have run. A group
  // that timed out leaves its thread behind and MPI unfinalised: end such a job with abort_job.
  ~MpiProcessGroup() override;
  MpiProcessGroup(const MpiProcessGroup&) = delete;
  MpiProcessGroup& operator=(const MpiProcessGroup&) = delete;

  const WorldInfo& world() const override { return shared_->world; }
  std::string backend_name() const override { return "mpi"; }

  WorkPtr all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  WorkPtr reduce_scatter(const Tensor& input, const Tensor& output,
                         ReduceOp op = ReduceOp::sum) override;
  WorkPtr all_gather(const Tensor& input, const Tensor& output) override;
  WorkPtr broadcast(const Tensor& tensor, int root) override;
  WorkPtr barrier() override;

  std::string trace() const override;
  [[noreturn]] void abort_job(const std::string& reason) override;
  uint64_t next_sequence() const override;
  // All-reduces and reduce-scatters that went through shared memory so far (read after
  // their wait()).
  int64_t shm_ops() const { return shm_ ? shm_->calls() : 0; }
  // Whether large all-reduces read the peers' tensors directly (ShmCollectives' single copy).
  bool shm_single_copy() const { return shm_ && shm_->single_copy(); }
  // Ops that ran on the caller's thread so far.
  int64_t inline_ops() const { return inline_ops_.load(std::memory_order_relaxed); }

 private:
  // State the Work handles share with the group, so a handle may outlive it.
  struct Shared {
    explicit Shared(size_t trace_capacity) : trace(trace_capacity) {}
    std::string trace_text() const;
    void mark_unusable(const std::string& reason);

    WorldInfo world;
    OpTrace trace;
    std::atomic<bool> unusable{false};
    std::atomic<int64_t> in_flight{0};  // ops posted to the thread whose body has not yet returned
    mutable std::mutex mutex;
    std::string unusable_reason;  // under mutex
    std::unique_ptr<StallInspector> inspector;  // last: its thread reads `trace`
  };

  // An op's body; it gives shared-memory waits `shm_seconds` before they fail.
  using Body = std::function<void(double shm_seconds)>;
  // Queues `run` (executed on the communication thread) as op `label` and returns its
  // handle; with `may_run_inline`, runs it on this thread instead if nothing is queued.
  WorkPtr enqueue(std::string label, std::string dtype, size_t bytes, Body run,
                  bool may_run_inline = false);
  // Runs `body` as `work`: its trace states, its end, and what a failure does to the group.
  // On the caller's thread (`posted` false), a shared-memory wait past the timeout ends the
  // op as a wait() past the timeout would.
  static void execute(Shared& shared, QueuedWork& work, const std::function<void()>& body,
                      bool posted);
  static std::string timeout_message(const Shared& shared, const QueuedWork& work, double waited,
                                     bool started);
  // The path of a reduction of `bytes` (the same on every rank).
  bool through_shm(size_t bytes, bool needs_one_node) const;
  bool inline_size(size_t bytes) const;

  // Communication thread only.
  void initialize();
  void finalize();
  // Communication thread, or the caller while that thread is idle (shared memory only).
  void run_all_reduce(const Tensor& tensor, ReduceOp op, double shm_seconds);
  void run_reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op, double shm_seconds);
  void run_all_gather(const Tensor& input, const Tensor& output);
  void run_broadcast(const Tensor& tensor, int root);

  ProcessGroupOptions options_;
  std::shared_ptr<Shared> shared_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool initialized_mpi_ = false;
  std::vector<float> scratch_in_, scratch_out_;  // f32 sums of bf16 data
  std::unique_ptr<ShmCollectives> shm_;            // null: off, or no node holds two ranks
  // On the communication thread, shared-memory waits outlast the waiter's timeout (which
  // reports the stall): they only keep the thread from waiting forever.
  double shm_thread_seconds_ = 0;
  std::atomic<int64_t> inline_ops_{0};

  mutable std::mutex enqueue_mutex_;  // sequence numbers follow queue order
  uint64_t next_sequence_ = 1;
  CommThread thread_;  // last: starts after, and stops before, the state it uses
};

}  // namespace torus::comm
