// The shared-memory collectives: window layout, portions, and the reduction kernels.
#include "distributed/comm/shm_collectives.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "kernels/common/half.h"

namespace torus::comm {

namespace {

constexpr size_t kLine = 64;
constexpr int64_t kAlignElements = 16;  // portion bounds on cache lines (of 4-byte elements)
constexpr int64_t kBlock = 1024;        // elements summed per pass (stays in L1)
constexpr size_t kCopyBlockBytes = size_t{256} << 10;  // single copy: read per peer per pass (stays in L2)
// Single copy: a round's part of the tensor per rank. Fewer rounds wait less on a peer the
// scheduler has set aside; rounds at all keep a part in cache from its sum to its copy-out.
constexpr size_t kSingleCopyRoundBytes = size_t{4} << 20;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Element range [begin, end) of portion q out of `parties` over n elements.
struct Range {
  int64_t begin, end;
};
Range portion(int64_t n, int q, int parties) {
  auto bound = [&](int k) {
    if (k >= parties) return n;
    const int64_t raw = n * k / parties;
    return std::min(n, raw / kAlignElements * kAlignElements);
  };
  return {bound(q), bound(q + 1)};
}

// sum[0, m) = sources[0][b + i] + sources[1][b + i] + ..., in that order (rank order: every
// rank's result has the same bits, and all-reduce and reduce-scatter agree).
template <class T, class Acc>
void sum_in_rank_order(const std::vector<const T*>& sources, int64_t b, int64_t m, Acc* sum) {
  const T* first = sources[0] + b;
  for (int64_t i = 0; i < m; ++i) sum[i] = static_cast<Acc>(first[i]);
  for (size_t q = 1; q < sources.size(); ++q) {
    const T* s = sources[q] + b;
    for (int64_t i = 0; i < m; ++i) sum[i] += static_cast<Acc>(s[i]);
  }
}

// Calls f.template operator()<T, Acc>(MPI type of Acc) for a reducible dtype: T as stored,
// Acc what it is summed in (f32 for bf16).
template <class F>
void dispatch_reducible(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::f32: return f.template operator()<float, float>(MPI_FLOAT);
    case DType::f64: return f.template operator()<double, double>(MPI_DOUBLE);
    case DType::bf16: return f.template operator()<BFloat16, float>(MPI_FLOAT);
    case DType::i32: return f.template operator()<int32_t, int32_t>(MPI_INT32_T);
    case DType::i64: return f.template operator()<int64_t, int64_t>(MPI_INT64_T);
    default: break;
  }
  throw Error(fmt::format("shared-memory {}: {} is not reducible", what, dtype_name(dtype)));
}

}  // namespace

ShmCollectives::ShmCollectives(MPI_Comm world, size_t chunk_bytes, size_t single_copy_min_bytes,
                               size_t single_copy_max_bytes, int ranks_per_node)
    : chunk_bytes_(round_up(std::max<size_t>(chunk_bytes, kLine), kLine)),
      single_copy_min_bytes_(single_copy_min_bytes),
      single_copy_max_bytes_(single_copy_max_bytes) {
  int rank = 0;
  TORUS_MPI(MPI_Comm_rank(world, &rank));
  TORUS_MPI(MPI_Comm_size(world, &world_size_));
  if (ranks_per_node > 0) {
    TORUS_MPI(MPI_Comm_split(world, rank / ranks_per_node, rank, &node_));
  } else {
    TORUS_MPI(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_));
  }
  TORUS_MPI(MPI_Comm_set_errhandler(node_, MPI_ERRORS_RETURN));
  TORUS_MPI(MPI_Comm_rank(node_, &node_rank_));
  TORUS_MPI(MPI_Comm_size(node_, &node_size_));
  TORUS_MPI(MPI_Comm_split(world, node_rank_ == 0 ? 0 : MPI_UNDEFINED, rank, &leaders_));
  if (leaders_ != MPI_COMM_NULL) {
    TORUS_MPI(MPI_Comm_set_errhandler(leaders_, MPI_ERRORS_RETURN));
    TORUS_MPI(MPI_Comm_size(leaders_, &nodes_));
  }
  TORUS_MPI(MPI_Bcast(&nodes_, 1, MPI_INT, 0, node_));
  TORUS_MPI(MPI_Allreduce(&node_size_, &largest_node_, 1, MPI_INT, MPI_MAX, world));

  // One allocation, on local rank 0: barrier words, a line per rank for a published address,
  // a slot per rank, and the result area (accumulators are up to twice the element size:
  // bf16 sums in f32).
  // One line more than the layout: MPI's shared window need not start on a line (Open MPI's
  // starts 264 bytes into a page), so the layout starts at the first line boundary in it.
  // The segment is page-aligned in every process, so that boundary is the same offset.
  const size_t bytes = kLine * (2 + static_cast<size_t>(node_size_)) +
                       static_cast<size_t>(node_size_) * chunk_bytes_ + 2 * chunk_bytes_;
  void* mine = nullptr;
  TORUS_MPI(MPI_Win_allocate_shared(node_rank_ == 0 ? static_cast<MPI_Aint>(bytes) : 0, 1,
                                    MPI_INFO_NULL, node_, &mine, &window_));
  MPI_Aint size = 0;
  int unit = 0;
  void* base = nullptr;
  TORUS_MPI(MPI_Win_shared_query(window_, 0, &size, &unit, &base));
  TORUS_CHECK(static_cast<size_t>(size) >= bytes, "shared-memory all-reduce: the window has {} bytes, not {}",
              size, bytes);
  const auto address = reinterpret_cast<uintptr_t>(base);
  base_ = static_cast<char*>(base) + (round_up(address, kLine) - address);
  // Passive target for the whole life of the window: loads and stores, our own atomics.
  TORUS_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_));
  auto* words = reinterpret_cast<NodeBarrier::Words*>(base_);
  if (node_rank_ == 0) new (words) NodeBarrier::Words{};
  TORUS_MPI(MPI_Win_sync(window_));
  TORUS_MPI(MPI_Barrier(node_));
  barrier_ = std::make_unique<NodeBarrier>(words, node_size_);
  // The same answer on every rank: nodes_ and the option are, and CrossMemory agrees.
  if (single_copy_min_bytes_ != SIZE_MAX && nodes_ == 1 && node_size_ > 1) {
    cross_ = std::make_unique<CrossMemory>(world, node_);
    if (!cross_->usable()) cross_.reset();
  }
}

void ShmCollectives::shut_down() {
  if (window_ != MPI_WIN_NULL) {
    TORUS_MPI(MPI_Win_unlock_all(window_));
    TORUS_MPI(MPI_Win_free(&window_));
  }
  if (leaders_ != MPI_COMM_NULL) TORUS_MPI(MPI_Comm_free(&leaders_));
  if (node_ != MPI_COMM_NULL) TORUS_MPI(MPI_Comm_free(&node_));
}

char* ShmCollectives::slot(int local_rank) const {
  return base_ + kLine * (1 + static_cast<size_t>(node_size_)) + static_cast<size_t>(local_rank) * chunk_bytes_;
}

uint64_t* ShmCollectives::published_address(int local_rank) const {
  return reinterpret_cast<uint64_t*>(base_ + kLine * (1 + static_cast<size_t>(local_rank)));
}

void ShmCollectives::start(double timeout_seconds) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  deadline_ = {std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(timeout_seconds)),
               timeout_seconds};
}

void ShmCollectives::all_reduce(void* data, int64_t count, DType dtype, ReduceOp op, double timeout_seconds) {
  start(timeout_seconds);
  const size_t bytes = static_cast<size_t>(count) * dtype_size(dtype);
  const bool single = cross_ && bytes >= single_copy_min_bytes_ && bytes <= single_copy_max_bytes_;
  dispatch_reducible(dtype, "all-reduce", [&]<class T, class Acc>(MPI_Datatype acc_type) {
    if (single) {
      reduce_single_copy<T, Acc>(static_cast<T*>(data), count, op);
    } else {
      reduce<T, Acc>(static_cast<T*>(data), count, op, acc_type);
    }
  });
}

void ShmCollectives::reduce_scatter(const void* input, void* output, int64_t count, DType dtype, ReduceOp op,
                                    double timeout_seconds) {
  TORUS_CHECK(nodes_ == 1, "shared-memory reduce-scatter: the ranks span {} nodes", nodes_);
  start(timeout_seconds);
  dispatch_reducible(dtype, "reduce-scatter", [&]<class T, class Acc>(MPI_Datatype) {
    scatter_reduce<T, Acc>(static_cast<const T*>(input), static_cast<T*>(output), count, op);
  });
}

template <class T, class Acc>
void ShmCollectives::scatter_reduce(const T* input, T* output, int64_t count, ReduceOp op) {
  // A slot holds, per round, `round` elements for each destination rank.
  const int64_t round = static_cast<int64_t>(chunk_bytes_ / sizeof(T)) / node_size_ / kAlignElements * kAlignElements;
  TORUS_CHECK(round > 0, "shared-memory reduce-scatter: {} bytes per slot are too few for {} ranks", chunk_bytes_,
              node_size_);
  const bool average = op == ReduceOp::average;
  const Acc divisor = static_cast<Acc>(world_size_);
  std::vector<const T*> sources(static_cast<size_t>(node_size_));
  Acc sum[kBlock];
  for (int64_t offset = 0; offset < count; offset += round) {
    const int64_t n = std::min(round, count - offset);
    for (int q = 0; q < node_size_; ++q) {
      if (q == node_rank_) continue;
      std::memcpy(reinterpret_cast<T*>(slot(node_rank_)) + q * round, input + q * count + offset,
                  static_cast<size_t>(n) * sizeof(T));
    }
    arrive_and_wait();
    for (int q = 0; q < node_size_; ++q)
      sources[static_cast<size_t>(q)] = q == node_rank_ ? input + q * count + offset
                                                         : reinterpret_cast<const T*>(slot(q)) + node_rank_ * round;
    for (int64_t b = 0; b < n; b += kBlock) {
      const int64_t m = std::min(kBlock, n - b);
      sum_in_rank_order(sources, b, m, sum);
      for (int64_t i = 0; i < m; ++i) output[offset + b + i] = static_cast<T>(average ? sum[i] / divisor : sum[i]);
    }
    arrive_and_wait();  // the slots are read: the next round may write them
  }
}

template <class T, class Acc>
void ShmCollectives::reduce(T* data, int64_t count, ReduceOp op, MPI_Datatype acc_type) {
  const int64_t round = static_cast<int64_t>(chunk_bytes_ / sizeof(T));
  const bool across_nodes = nodes_ > 1;
  const bool average = op == ReduceOp::average;
  const Acc divisor = static_cast<Acc>(world_size_);
  auto* result = reinterpret_cast<Acc*>(slot(node_size_));
  std::vector<const T*> sources(static_cast<size_t>(node_size_));
  Acc sum[kBlock];

  for (int64_t offset = 0; offset < count; offset += round) {
    const int64_t n = std::min(round, count - offset);
    T* chunk = data + offset;
    // 1. Publish the portions the other ranks reduce.
    for (int q = 0; q < node_size_; ++q) {
      if (q == node_rank_) continue;
      const Range r = portion(n, q, node_size_);
      std::memcpy(reinterpret_cast<T*>(slot(node_rank_)) + r.begin, chunk + r.begin,
                  static_cast<size_t>(r.end - r.begin) * sizeof(T));
    }
    arrive_and_wait();

    // 3. Sum this rank's portion in local-rank order, a block at a time.
    const Range own = portion(n, node_rank_, node_size_);
    for (int q = 0; q < node_size_; ++q)
      sources[static_cast<size_t>(q)] = q == node_rank_ ? chunk : reinterpret_cast<const T*>(slot(q));
    for (int64_t b = own.begin; b < own.end; b += kBlock) {
      const int64_t m = std::min(kBlock, own.end - b);
      sum_in_rank_order(sources, b, m, sum);
      std::memcpy(result + b, sum, static_cast<size_t>(m) * sizeof(Acc));
      if (!across_nodes) {
        for (int64_t i = 0; i < m; ++i) chunk[b + i] = static_cast<T>(average ? sum[i] / divisor : sum[i]);
      }
    }
    arrive_and_wait();

    // 4. Between nodes: the leaders sum the nodes' results in place.
    if (across_nodes) {
      if (leaders_ != MPI_COMM_NULL)
        TORUS_MPI(MPI_Allreduce(MPI_IN_PLACE, result, static_cast<int>(n), acc_type, MPI_SUM, leaders_));
      arrive_and_wait();
    }

    // 5. Copy the result out (on one node, this rank's own portion is in place already).
    for (int q = 0; q < node_size_; ++q) {
      if (q == node_rank_ && !across_nodes) continue;
      const Range r = portion(n, q, node_size_);
      if constexpr (std::is_same_v<T, Acc>) {
        if (!average) {
          std::memcpy(chunk + r.begin, result + r.begin, static_cast<size_t>(r.end - r.begin) * sizeof(T));
          continue;
        }
      }
      for (int64_t i = r.begin; i < r.end; ++i)
        chunk[i] = static_cast<T>(average ? result[i] / divisor : result[i]);
    }
  }
}

template <class T, class Acc>
void ShmCollectives::reduce_single_copy(T* data, int64_t count, ReduceOp op) {
  const bool average = op == ReduceOp::average;
  const Acc divisor = static_cast<Acc>(world_size_);
  const auto round = static_cast<int64_t>(kSingleCopyRoundBytes / sizeof(T));
  const auto block = static_cast<int64_t>(kCopyBlockBytes / sizeof(T));
  scratch_.resize(static_cast<size_t>(node_size_) * kCopyBlockBytes);
  *published_address(node_rank_) = reinterpret_cast<uintptr_t>(data);
  arrive_and_wait();  // every address is up, and every tensor holds its input
  std::vector<const T*> peer(static_cast<size_t>(node_size_));
  for (int q = 0; q < node_size_; ++q)
    peer[static_cast<size_t>(q)] = reinterpret_cast<const T*>(static_cast<uintptr_t>(*published_address(q)));
  std::vector<const T*> sources(static_cast<size_t>(node_size_));
  Acc sum[kBlock];

  // In rounds (kSingleCopyRoundBytes), one barrier a round: a rank writes only its own portion of round k (its sums) before
  // the barrier, and the other portions of round k (the owners' sums) after it, which no
  // peer reads then (the peers read round k's inputs before it, and round k + 1's after).
  for (int64_t offset = 0; offset < count; offset += round) {
    const int64_t n = std::min(round, count - offset);
    // This rank's portion: the peers' values, a block at a time into scratch, summed in
    // local-rank order into the tensor.
    const Range own = portion(n, node_rank_, node_size_);
    for (int64_t b = offset + own.begin; b < offset + own.end; b += block) {
      const int64_t m = std::min(block, offset + own.end - b);
      for (int q = 0; q < node_size_; ++q) {
        T* copy = reinterpret_cast<T*>(scratch_.data() + static_cast<size_t>(q) * kCopyBlockBytes);
        if (q != node_rank_) cross_->read(q, copy, peer[static_cast<size_t>(q)] + b, static_cast<size_t>(m) * sizeof(T));
        sources[static_cast<size_t>(q)] = q == node_rank_ ? data + b : copy;
      }
      for (int64_t s = 0; s < m; s += kBlock) {
        const int64_t k = std::min(kBlock, m - s);
        sum_in_rank_order(sources, s, k, sum);
        for (int64_t i = 0; i < k; ++i) data[b + s + i] = static_cast<T>(average ? sum[i] / divisor : sum[i]);
      }
    }
    arrive_and_wait();  // every portion of this round holds its result
    for (int q = 0; q < node_size_; ++q) {
      if (q == node_rank_) continue;
      const Range r = portion(n, q, node_size_);
      cross_->read(q, data + offset + r.begin, peer[static_cast<size_t>(q)] + offset + r.begin,
                   static_cast<size_t>(r.end - r.begin) * sizeof(T));
    }
  }
  arrive_and_wait();  // no peer reads this tensor any more: the caller may change it
}

}  // namespace torus::comm
