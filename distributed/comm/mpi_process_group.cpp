// The MPI backend: argument checks on the caller's thread, MPI calls on the
// communication thread, and the timeout and abort paths.
#include "distributed/comm/mpi_process_group.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>

namespace torus::comm {

namespace {

// Only one group per process owns the communication thread and MPI.
std::atomic<bool> g_group_exists{false};

// Element type on the wire; 16-bit floats travel as raw bits (they are only moved: reductions
// of bf16 go through f32).
MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::bf16: case DType::f16: return MPI_UINT16_T;
    case DType::u8: return MPI_UINT8_T;
  }
  throw Error("mpi_type: corrupt dtype");
}

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
  }
  return "an unknown thread level";
}

int checked_count(const char* op, int64_t count) {
  TORUS_CHECK(count <= INT_MAX, "{}: {} elements per rank is more than MPI's int count allows",
              op, count);
  return static_cast<int>(count);
}

template <class T>
void divide(T* data, int64_t n, int size) {
  const T divisor = static_cast<T>(size);
  for (int64_t i = 0; i < n; ++i) data[i] /= divisor;
}

// Runs `call(offset, count)` over [0, n) in pieces MPI's int counts can hold.
template <class F>
void in_pieces(int64_t n, int64_t piece, F&& call) {
  if (n == 0) call(int64_t{0}, 0);  // still one call, so every rank makes the same calls
  for (int64_t offset = 0; offset < n; offset += piece)
    call(offset, static_cast<int>(std::min(piece, n - offset)));
}

}  // namespace

std::string MpiProcessGroup::Shared::trace_text() const {
  return trace.format(fmt::format("collective trace of rank {} of {} ({})", world.rank, world.size,
                                  world.host));
}

void MpiProcessGroup::Shared::mark_unusable(const std::string& reason) {
  std::lock_guard lock(mutex);
  if (!unusable.exchange(true)) unusable_reason = reason;
}

MpiProcessGroup::MpiProcessGroup(const ProcessGroupOptions& options)
    : options_(options), shared_(std::make_shared<Shared>(options.trace_capacity)) {
  TORUS_CHECK(options.timeout_seconds > 0, "MpiProcessGroup: timeout_seconds must be > 0, got {}",
              options.timeout_seconds);
  if (g_group_exists.exchange(true))
    throw Error("MpiProcessGroup: a process has one MPI process group at a time, and one exists");
  std::promise<void> ready;
  std::future<void> initialized = ready.get_future();
  thread_.post([this, &ready] {
    try {
      initialize();
      ready.set_value();
    } catch (...) {
      ready.set_exception(std::current_exception());
    }
  });
  try {
    initialized.get();
  } catch (...) {
    g_group_exists = false;
    throw;
  }
}

void MpiProcessGroup::initialize() {
  int finalized = 0;
  TORUS_MPI(MPI_Finalized(&finalized));
  if (finalized)
    throw Error("MpiProcessGroup: MPI was finalised by an earlier process group; MPI cannot be "
                "initialised twice in one process, so keep one group for the whole run");
  int initialized = 0;
  TORUS_MPI(MPI_Initialized(&initialized));
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    TORUS_MPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    initialized_mpi_ = true;
  } else {
    TORUS_MPI(MPI_Query_thread(&provided));
  }
  if (provided < MPI_THREAD_MULTIPLE) {
    if (initialized_mpi_) MPI_Finalize();  // on the way out with an error; its code adds nothing
    throw Error(fmt::format(
        "MpiProcessGroup: MPI provides {}, but Torus needs MPI_THREAD_MULTIPLE (its "
        "communication thread runs the collectives, and abort_job must reach MPI_Abort while "
        "that thread is inside one); use an MPI built with thread support (Open MPI: "
        "--enable-mpi-thread-multiple)",
        thread_level_name(provided)));
  }
  // Our own communicator: our traffic never matches anyone else's, and errors return to us.
  TORUS_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  TORUS_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  Shared* shared = shared_.get();  // outlives the inspector, its last member
  shared->inspector = std::make_unique<StallInspector>(comm_, [shared](uint64_t sequence) {
    return StallInspector::Standing{shared->trace.record(sequence), shared->trace.newest()};
  });

  WorldInfo& world = shared_->world;
  TORUS_MPI(MPI_Comm_rank(comm_, &world.rank));
  TORUS_MPI(MPI_Comm_size(comm_, &world.size));
  MPI_Comm local = MPI_COMM_NULL;
  TORUS_MPI(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &local));
  TORUS_MPI(MPI_Comm_rank(local, &world.local_rank));
  TORUS_MPI(MPI_Comm_size(local, &world.local_size));
  TORUS_MPI(MPI_Comm_free(&local));
  if (options_.shared_memory && world.size > 1) {
    shm_thread_seconds_ = 2 * options_.timeout_seconds + 10;
    shm_ = std::make_unique<ShmCollectives>(
        comm_, options_.shm_chunk_bytes,
        options_.shm_single_copy ? options_.shm_single_copy_min_bytes : SIZE_MAX,
        options_.shm_single_copy_max_bytes, options_.shm_ranks_per_node);
    if (!shm_->worthwhile()) {
      shm_->shut_down();
      shm_.reset();
    }
  }
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_length = 0;
  TORUS_MPI(MPI_Get_processor_name(host, &host_length));
  world.host.assign(host, static_cast<size_t>(host_length));
}

void MpiProcessGroup::finalize() {
  if (shm_) shm_->shut_down();
  if (shared_->inspector) shared_->inspector->shut_down();
  if (comm_ != MPI_COMM_NULL) TORUS_MPI(MPI_Comm_free(&comm_));
  if (initialized_mpi_) TORUS_MPI(MPI_Finalize());
}

MpiProcessGroup::~MpiProcessGroup() {
  if (shared_->unusable) {
    // A collective may never return: leave its thread and MPI as they are (see abort_job).
    thread_.abandon();
    g_group_exists = false;
    return;
  }
  thread_.post([this] {
    try {
      finalize();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "torus: [rank %d@%s] %s\n", shared_->world.rank,
                   shared_->world.host.c_str(), e.what());
    }
  });
  thread_.stop_and_join();
  g_group_exists = false;
}

uint64_t MpiProcessGroup::next_sequence() const {
  std::lock_guard lock(enqueue_mutex_);
  return next_sequence_;
}

std::string MpiProcessGroup::trace() const { return shared_->trace_text(); }

std::string MpiProcessGroup::timeout_message(const Shared& shared, const QueuedWork& work,
                                             double waited, bool started) {
  const WorldInfo& world = shared.world;
  // Answers come within milliseconds from live ranks; the limit only bounds dead ones.
  const double answer_seconds = std::clamp(work.timeout_seconds() / 2, 1.0, 5.0);
  const std::string arrivals =
      started && shared.inspector
          ? "; " + shared.inspector->inspect(work.sequence(), work.op(), answer_seconds)
          : std::string();
  return fmt::format(
      "{} (sequence {}) timed out on rank {} of {} ({}): not complete after waiting {:.2f} s "
      "(timeout {:g} s); {}{}. This process group cannot be used any more: end the job "
      "(abort_job).\n{}",
      work.op(), work.sequence(), world.rank, world.size, world.host, waited,
      work.timeout_seconds(),
      started ? "it was running (in MPI or shared memory), so another rank has not issued it, "
                "issued another op, or failed"
              : "it was still queued behind an earlier op that has not completed",
      arrivals, shared.trace_text());
}

WorkPtr MpiProcessGroup::enqueue(std::string label, std::string dtype, size_t bytes, Body run,
                                 bool may_run_inline) {
  std::lock_guard lock(enqueue_mutex_);
  if (shared_->unusable) {
    std::lock_guard reason_lock(shared_->mutex);
    throw Error(fmt::format("{}: the process group cannot be used any more: {}", label,
                            shared_->unusable_reason));
  }
  const uint64_t sequence = next_sequence_++;
  std::shared_ptr<Shared> shared = shared_;
  auto work = std::make_shared<QueuedWork>(
      label, sequence, options_.timeout_seconds,
      [shared](const QueuedWork& w, double waited, bool started) {
        shared->trace.set_state(w.sequence(), OpState::timed_out);
        shared->mark_unusable(fmt::format("{} (sequence {}) timed out", w.op(), w.sequence()));
        return timeout_message(*shared, w, waited, started);
      });
  shared_->trace.add(sequence, std::move(label), std::move(dtype), bytes);
  // Every earlier op has returned from its body, and the lock keeps later ones out until
  // this one is done: issue order holds, and the thread and the caller never share shm_.
  if (may_run_inline && shared_->in_flight.load(std::memory_order_acquire) == 0) {
    inline_ops_.fetch_add(1, std::memory_order_relaxed);
    const double seconds = options_.timeout_seconds;
    execute(*shared_, *work, [&] { run(seconds); }, false);
    return work;
  }
  shared_->in_flight.fetch_add(1, std::memory_order_relaxed);
  thread_.post([work, shared, run = std::move(run), seconds = shm_thread_seconds_] {
    execute(*shared, *work, [&] { run(seconds); }, true);
  });
  return work;
}

void MpiProcessGroup::execute(Shared& shared, QueuedWork& work, const std::function<void()>& body,
                              bool posted) {
  const auto start = std::chrono::steady_clock::now();
  shared.trace.set_state(work.sequence(), OpState::running);
  work.mark_running();
  std::exception_ptr error;
  OpState end = OpState::done;
  // A failed collective leaves the ranks out of step; nothing after it can be trusted.
  auto fail = [&](const std::exception& e) {
    end = OpState::failed;
    shared.mark_unusable(fmt::format("{} (sequence {}) failed: {}", work.op(), work.sequence(), e.what()));
    error = std::current_exception();
  };
  try {
    body();
  } catch (const NodeBarrierTimeout& e) {
    if (posted) {
      fail(e);
    } else {
      // On the caller's thread this wait is the op's wait(): report it as a wait() would.
      end = OpState::timed_out;
      shared.trace.set_state(work.sequence(), end);
      shared.mark_unusable(fmt::format("{} (sequence {}) timed out", work.op(), work.sequence()));
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      error = std::make_exception_ptr(CommTimeoutError(timeout_message(shared, work, waited, true)));
    }
  } catch (const std::exception& e) {
    fail(e);
  }
  // Before finish(): a waiter that returns may issue its next op inline at once.
  if (posted) shared.in_flight.fetch_sub(1, std::memory_order_release);
  if (end != OpState::timed_out) shared.trace.set_state(work.sequence(), end);
  work.finish(error);
}

bool MpiProcessGroup::inline_size(size_t bytes) const {
  return shm_ && shm_->nodes() == 1 && bytes <= options_.shm_inline_max_bytes;
}

bool MpiProcessGroup::through_shm(size_t bytes, bool needs_one_node) const {
  if (!shm_ || (needs_one_node && shm_->nodes() != 1)) return false;
  return bytes >= options_.shm_min_bytes || inline_size(bytes);
}

WorkPtr MpiProcessGroup::all_reduce(const Tensor& tensor, ReduceOp op) {
  detail::check_tensor("all_reduce", tensor, "tensor");
  detail::check_reducible("all_reduce", tensor.dtype(), op);
  return enqueue(detail::op_label("all_reduce", reduce_op_name(op)),
                 std::string(dtype_name(tensor.dtype())), tensor.nbytes(),
                 [this, tensor, op](double shm_seconds) { run_all_reduce(tensor, op, shm_seconds); },
                 inline_size(tensor.nbytes()));
}

WorkPtr MpiProcessGroup::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op) {
  detail::check_tensor("reduce_scatter", input, "input");
  detail::check_tensor("reduce_scatter", output, "output");
  detail::check_same_dtype("reduce_scatter", input, output);
  detail::check_reducible("reduce_scatter", input.dtype(), op);
  detail::check_multiple("reduce_scatter", output, input, size(), "output", "input");
  checked_count("reduce_scatter", output.numel());
  return enqueue(detail::op_label("reduce_scatter", reduce_op_name(op)),
                 std::string(dtype_name(input.dtype())), input.nbytes(),
                 [this, input, output, op](double shm_seconds) {
                   run_reduce_scatter(input, output, op, shm_seconds);
                 },
                 inline_size(input.nbytes()));
}

WorkPtr MpiProcessGroup::all_gather(const Tensor& input, const Tensor& output) {
  detail::check_tensor("all_gather", input, "input");
  detail::check_tensor("all_gather", output, "output");
  detail::check_same_dtype("all_gather", input, output);
  detail::check_multiple("all_gather", input, output, size(), "input", "output");
  checked_count("all_gather", input.numel());
  return enqueue("all_gather", std::string(dtype_name(input.dtype())), output.nbytes(),
                 [this, input, output](double) { run_all_gather(input, output); });
}

WorkPtr MpiProcessGroup::broadcast(const Tensor& tensor, int root) {
  detail::check_tensor("broadcast", tensor, "tensor");
  detail::check_root("broadcast", root, size());
  return enqueue(detail::op_label("broadcast", fmt::format("root {}", root)),
                 std::string(dtype_name(tensor.dtype())), tensor.nbytes(),
                 [this, tensor, root](double) { run_broadcast(tensor, root); });
}

WorkPtr MpiProcessGroup::barrier() {
  return enqueue("barrier", "", 0, [this](double) { TORUS_MPI(MPI_Barrier(comm_)); });
}

void MpiProcessGroup::run_all_reduce(const Tensor& tensor, ReduceOp op, double shm_seconds) {
  const int64_t n = tensor.numel();
  if (through_shm(tensor.nbytes(), false)) {
    shm_->all_reduce(tensor.raw_data(), n, tensor.dtype(), op, shm_seconds);
    return;
  }
  if (tensor.dtype() == DType::bf16) {
    BFloat16* data = tensor.data<BFloat16>();
    scratch_in_.resize(static_cast<size_t>(std::min(n, kBf16ChunkElements)));
    in_pieces(n, kBf16ChunkElements, [&](int64_t offset, int count) {
      float* sum = scratch_in_.data();
      for (int i = 0; i < count; ++i) sum[i] = static_cast<float>(data[offset + i]);
      TORUS_MPI(MPI_Allreduce(MPI_IN_PLACE, sum, count, MPI_FLOAT, MPI_SUM, comm_));
      if (op == ReduceOp::average) divide(sum, count, size());
      for (int i = 0; i < count; ++i) data[offset + i] = BFloat16(sum[i]);
    });
    return;
  }
  const MPI_Datatype type = mpi_type(tensor.dtype());
  const size_t element = tensor.element_size();
  char* data = static_cast<char*>(tensor.raw_data());
  in_pieces(n, kMaxCountPerCall, [&](int64_t offset, int count) {
    TORUS_MPI(MPI_Allreduce(MPI_IN_PLACE, data + offset * element, count, type, MPI_SUM, comm_));
  });
  if (op == ReduceOp::average) {
    if (tensor.dtype() == DType::f32) divide(tensor.data<float>(), n, size());
    if (tensor.dtype() == DType::f64) divide(tensor.data<double>(), n, size());
  }
}

void MpiProcessGroup::run_reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op,
                                         double shm_seconds) {
  const int count = static_cast<int>(output.numel());
  if (through_shm(input.nbytes(), true)) {
    shm_->reduce_scatter(input.raw_data(), output.raw_data(), count, input.dtype(), op, shm_seconds);
    return;
  }
  if (input.dtype() == DType::bf16) {
    const BFloat16* in = input.data<BFloat16>();
    BFloat16* out = output.data<BFloat16>();
    scratch_in_.resize(static_cast<size_t>(input.numel()));
    scratch_out_.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < input.numel(); ++i) scratch_in_[i] = static_cast<float>(in[i]);
    TORUS_MPI(MPI_Reduce_scatter_block(scratch_in_.data(), scratch_out_.data(), count, MPI_FLOAT,
                                       MPI_SUM, comm_));
    if (op == ReduceOp::average) divide(scratch_out_.data(), count, size());
    for (int i = 0; i < count; ++i) out[i] = BFloat16(scratch_out_[i]);
    return;
  }
  TORUS_MPI(MPI_Reduce_scatter_block(input.raw_data(), output.raw_data(), count,
                                     mpi_type(input.dtype()), MPI_SUM, comm_));
  if (op == ReduceOp::average) {
    if (output.dtype() == DType::f32) divide(output.data<float>(), count, size());
    if (output.dtype() == DType::f64) divide(output.data<double>(), count, size());
  }
}

void MpiProcessGroup::run_all_gather(const Tensor& input, const Tensor& output) {
  const int count = static_cast<int>(input.numel());
  const MPI_Datatype type = mpi_type(input.dtype());
  TORUS_MPI(MPI_Allgather(input.raw_data(), count, type, output.raw_data(), count, type, comm_));
}

void MpiProcessGroup::run_broadcast(const Tensor& tensor, int root) {
  const MPI_Datatype type = mpi_type(tensor.dtype());
  const size_t element = tensor.element_size();
  char* data = static_cast<char*>(tensor.raw_data());
  in_pieces(tensor.numel(), kMaxCountPerCall, [&](int64_t offset, int count) {
    TORUS_MPI(MPI_Bcast(data + offset * element, count, type, root, comm_));
  });
}

void MpiProcessGroup::abort_job(const std::string& reason) {
  const WorldInfo& world = shared_->world;
  // A timeout's message holds the trace already.
  const bool has_trace = reason.find("collective trace of rank") != std::string::npos;
  std::fprintf(stderr, "torus: [rank %d@%s] aborting the job: %s\n%s", world.rank,
               world.host.c_str(), reason.c_str(),
               has_trace ? "" : shared_->trace_text().c_str());
  std::fflush(stderr);
  // MPI_Abort does not return when it works; if it cannot, this rank still must not linger.
  MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);
  std::_Exit(EXIT_FAILURE);
}

}  // namespace torus::comm
