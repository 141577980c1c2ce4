// ShmCollectives: all-reduce (and, on one node, reduce-scatter) through memory the ranks of a node share (an MPI-3 window from
// MPI_Win_allocate_shared), then MPI among one leader per node, as NCCL, oneCCL and
// DeepSpeed's CPU all-reduce do. Open MPI's own all-reduce moves large messages at a
// tenth of memcpy bandwidth on one node; this moves each byte a few times through cache.
//
// A tensor goes in rounds of up to `chunk_bytes` per rank. Each round, with L ranks on
// the node, every element range ("portion") of the round belongs to one local rank:
//   1. each rank copies the portions it does not own into its slot of the window;
//   2. barrier;
//   3. each rank sums its own portion over the slots (its own values straight from its
//      tensor) in local-rank order, into the window's result area;
//   4. barrier; between nodes the leader all-reduces the result area over MPI, barrier;
//   5. each rank copies the result out into its tensor.
// Two barriers per round (three across nodes) suffice: a rank writes a slot or the result
// only after a barrier that every reader of the previous round reached when done reading.
// Sums run in local-rank order, so every rank of the node gets the same bits; bf16 sums in
// f32 and rounds once, as the MPI path does.
//
// Single copy (one node, from `single_copy_min_bytes` to `single_copy_max_bytes`, where
// CrossMemory works on every rank): each rank publishes its tensor's address; barrier; each rank reads its own portion
// of every peer's tensor straight from the peer's memory, a block at a time, and sums it in
// local-rank order into its tensor; barrier; each rank reads the other portions' sums from
// their owners' tensors; barrier (no rank's tensor is read after it returns). Each byte
// crosses between ranks once, and nothing goes through the window: about half the memory
// traffic of the rounds, with the same sums, so the same bits.
//
// Reduce-scatter (one node only) runs the same rounds with each rank's chunk as its
// portion and no copy-out: rank q sums chunk q over the ranks in rank order, with the same
// arithmetic as the all-reduce, so a sharded gradient has the bits of the all-reduced one.
//
// Every call must be made by every rank of the world, in the same order (the collective
// rule), and one thread at a time may use the object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/comm/cross_memory.h"
#include "distributed/comm/mpi_error.h"
#include "distributed/comm/node_barrier.h"
#include "distributed/comm/process_group.h"

namespace torus::comm {

class ShmCollectives {
 public:
  // Collective over `world`. `ranks_per_node` > 0 pretends the node holds only that many
  // consecutive ranks (tests of the between-node path on one machine); 0 is the real node.
  // All-reduces of single_copy_min_bytes to single_copy_max_bytes use single copy where
  // they can (min SIZE_MAX: never).
  ShmCollectives(MPI_Comm world, size_t chunk_bytes, size_t single_copy_min_bytes,
                 size_t single_copy_max_bytes, int ranks_per_node = 0);
  // Collective: frees the window and communicators. Not called after a failed op (the
  // ranks are out of step); the process ends then and takes the memory with it.
  void shut_down();
  ShmCollectives(const ShmCollectives&) = delete;
  ShmCollectives& operator=(const ShmCollectives&) = delete;

  // In place over the world; dtypes and ops as ProcessGroup::all_reduce. Throws
  // NodeBarrierTimeout if the node's other ranks have not all joined within
  // `timeout_seconds` of the start.
  void all_reduce(void* data, int64_t count, DType dtype, ReduceOp op, double timeout_seconds);
  // As ProcessGroup::reduce_scatter: `input` holds world x `count` elements, `output`
  // receives this rank's `count`. Only where nodes() == 1.
  void reduce_scatter(const void* input, void* output, int64_t count, DType dtype, ReduceOp op,
                      double timeout_seconds);

  // False when no node holds two ranks: nothing to share, MPI alone is better.
  bool worthwhile() const { return largest_node_ > 1; }
  int node_ranks() const { return node_size_; }
  int nodes() const { return nodes_; }
  int64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  // Whether all-reduces of the single-copy sizes use it (the same on every rank).
  bool single_copy() const { return cross_ != nullptr; }

 private:
  template <class T, class Acc>
  void reduce(T* data, int64_t count, ReduceOp op, MPI_Datatype acc_type);
  template <class T, class Acc>
  void reduce_single_copy(T* data, int64_t count, ReduceOp op);
  template <class T, class Acc>
  void scatter_reduce(const T* input, T* output, int64_t count, ReduceOp op);
  char* slot(int local_rank) const;
  uint64_t* published_address(int local_rank) const;
  void start(double timeout_seconds);
  void arrive_and_wait() { barrier_->arrive_and_wait(deadline_); }

  MPI_Comm node_ = MPI_COMM_NULL;
  MPI_Comm leaders_ = MPI_COMM_NULL;  // local rank 0 of each node; null on the others
  MPI_Win window_ = MPI_WIN_NULL;
  int node_rank_ = 0;
  int node_size_ = 1;
  int nodes_ = 1;
  int largest_node_ = 1;
  int world_size_ = 1;
  size_t chunk_bytes_;
  char* base_ = nullptr;  // the window as this process maps it: barrier, addresses, slots, result
  std::unique_ptr<NodeBarrier> barrier_;
  size_t single_copy_min_bytes_, single_copy_max_bytes_;
  std::unique_ptr<CrossMemory> cross_;  // null: single copy off, or not allowed on some rank
  std::vector<char> scratch_;           // single copy: blocks read from the peers
  NodeBarrier::Deadline deadline_{};  // of the op running now
  // Read by any thread; the ops themselves run on one thread at a time (the
  // communication thread, or the caller while that thread is idle).
  std::atomic<int64_t> calls_{0};
};

}  // namespace torus::comm
