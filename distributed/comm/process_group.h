// ProcessGroup: the collectives data parallelism and sharding are built on, with one
// interface for every backend: MPI for host tensors (mpi_process_group.h), a world of one
// (local_process_group.h), NCCL for device tensors later. Each collective takes contiguous
// tensors, works in place or into a given output, and returns a Work handle at once; ops
// run in the order they were issued, and every rank must issue the same ops in the same
// order with the same sizes and dtypes. The handle keeps the tensors' storage alive; do
// not read or write them until wait() returns. A wait() that times out leaves the group
// unusable (later ops throw at once), even if the op finishes afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "distributed/comm/work.h"
#include "framework/tensor/tensor.h"

namespace torus::comm {

// average = sum over ranks, then one division by the world size on every rank.
// Reductions take f32, f64, bf16 (summed in f32, rounded once), i32 and i64 (sum only).
enum class ReduceOp { sum, average };
const char* reduce_op_name(ReduceOp op);

struct ProcessGroupOptions {
  double timeout_seconds = 300;  // every Work::wait(); a timeout names the op and dumps the trace
  size_t trace_capacity = 64;    // ops kept in the collective trace
  // MPI backend: all-reduces (and, on one node, reduce-scatters) of at least shm_min_bytes
  // go through memory shared by the ranks of a node (shm_collectives.h), in rounds of
  // shm_chunk_bytes per rank; smaller ones, where MPI's latency is already low, go to MPI.
  // When every rank is on one node, all-reduces and reduce-scatters of at most
  // shm_inline_max_bytes go there too, and run on the caller's thread when nothing is queued
  // before them (no hand-off to the communication thread; the call returns once the op is
  // done); 0 turns that off. On one node, all-reduces from shm_single_copy_min_bytes to
  // shm_single_copy_max_bytes read the peers' tensors directly (process_vm_readv) where every
  // rank may: less memory traffic while the tensors stay in cache; beyond, the rounds'
  // blocking wins (measured: rounds at 1 and 64 MiB, single copy at 4 and 16 MiB).
  // The environment overrides them: TORUS_SHM=0 turns it off, TORUS_SHM_MIN_BYTES=N,
  // TORUS_SHM_CHUNK_BYTES=N, TORUS_SHM_INLINE_MAX_BYTES=N, TORUS_SHM_SINGLE_COPY=0,
  // TORUS_SHM_SINGLE_COPY_MIN_BYTES=N, TORUS_SHM_SINGLE_COPY_MAX_BYTES=N.
  bool shared_memory = true;
  size_t shm_min_bytes = size_t{16} << 10;  // measured: below it MPI wins, above it shared memory
  size_t shm_chunk_bytes = size_t{1} << 20;
  size_t shm_inline_max_bytes = size_t{64} << 10;
  bool shm_single_copy = true;
  size_t shm_single_copy_min_bytes = size_t{4} << 20;
  size_t shm_single_copy_max_bytes = size_t{16} << 20;
  int shm_ranks_per_node = 0;  // > 0: pretend nodes of that many ranks (tests); 0: real nodes
};

// Where this process sits in the job.
struct WorldInfo {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // among the ranks on this host
  int local_size = 1;
  std::string host;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  virtual const WorldInfo& world() const = 0;
  int rank() const { return world().rank; }
  int size() const { return world().size; }
  int local_rank() const { return world().local_rank; }
  int local_size() const { return world().local_size; }
  const std::string& host_name() const { return world().host; }
  virtual std::string backend_name() const = 0;  // "mpi", "local"

  // In place: on return of wait(), every rank's `tensor` holds the reduction over ranks.
  virtual WorkPtr all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum) = 0;
  // input: size() * n elements, output: n elements; rank r receives chunk r of the
  // reduction. input is left as it was.
  virtual WorkPtr reduce_scatter(const Tensor& input, const Tensor& output,
                                 ReduceOp op = ReduceOp::sum) = 0;
  // input: n elements, output: size() * n elements; chunk r of output is rank r's input.
  virtual WorkPtr all_gather(const Tensor& input, const Tensor& output) = 0;
  // In place: every rank's `tensor` becomes root's.
  virtual WorkPtr broadcast(const Tensor& tensor, int root) = 0;
  virtual WorkPtr barrier() = 0;

  // The last ops of this rank, as a table (OpTrace::format).
  virtual std::string trace() const = 0;
  // Ends the whole job now: prints `reason` and the trace to stderr, then takes down
  // every rank (MPI_Abort), so none waits forever in a collective. For errors seen on
  // one rank of a multi-rank job.
  [[noreturn]] virtual void abort_job(const std::string& reason) = 0;

  // Issued ops so far; the next op gets this sequence number.
  virtual uint64_t next_sequence() const = 0;
};

namespace detail {
// Checks shared by every backend, so a world of one refuses what MPI would.
void check_tensor(const char* op, const Tensor& tensor, const char* what);
void check_reducible(const char* op, DType dtype, ReduceOp reduce_op);
void check_same_dtype(const char* op, const Tensor& input, const Tensor& output);
// For reduce_scatter (output * size == input) and all_gather (input * size == output).
void check_multiple(const char* op, const Tensor& small, const Tensor& large, int size,
                    const char* small_name, const char* large_name);
void check_root(const char* op, int root, int size);
// "all_reduce(sum)"-style name of an op for traces and messages.
std::string op_label(const char* op, const std::string& detail);
}  // namespace detail

}  // namespace torus::comm
