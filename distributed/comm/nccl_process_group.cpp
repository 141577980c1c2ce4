// The NCCL backend (nccl_process_group.h): ops enqueued on the communication stream under
// one mutex, their completion events, the blocking waits that poll them with the timeout,
// and the abort paths.
#include "distributed/comm/nccl_process_group.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include "distributed/comm/nccl_bootstrap.h"
#include "distributed/comm/op_trace.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_context.h"

namespace torus::comm {

static_assert(NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0), "average needs ncclAvg (NCCL 2.10)");

ncclDataType_t nccl_data_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::bf16: return ncclBfloat16;
    case DType::f16: return ncclFloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    case DType::u8: return ncclUint8;
  }
  throw Error("nccl_data_type: corrupt dtype");
}

ncclRedOp_t nccl_reduce_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::average: return ncclAvg;
  }
  throw Error("nccl_reduce_op: corrupt reduce op");
}

namespace {

using Clock = std::chrono::steady_clock;
using Body = std::function<void(ncclComm_t, cudaStream_t)>;

// A completion event shared by an op's Work and the group's list of unfinished ops.
struct OpEvent {
  explicit OpEvent(cuda::Event e) : event(e) {}
  ~OpEvent() { (void)cudaEventDestroy(event); }  // at exit the driver may be gone already
  OpEvent(const OpEvent&) = delete;
  OpEvent& operator=(const OpEvent&) = delete;
  cuda::Event event;
};

// Rethrows the exception in flight with `prefix` before its message, keeping its type.
[[noreturn]] void rethrow_prefixed(const std::string& prefix) {
  try {
    throw;
  } catch (const cuda::NcclError& e) {
    throw cuda::NcclError(prefix + e.what(), e.code());
  } catch (const cuda::CudaOutOfMemoryError& e) {
    throw cuda::CudaOutOfMemoryError(prefix + e.what(), e.code());
  } catch (const cuda::CudaError& e) {
    throw cuda::CudaError(prefix + e.what(), e.code());
  } catch (const ValueError& e) {
    throw ValueError(prefix + e.what());
  } catch (const std::exception& e) {
    throw Error(prefix + e.what());
  }
}

// Spin a little, then sleep: a small op ends sooner than a sleeping thread wakes, a large
// one should not take a core from the rank's other threads.
void back_off(int round) {
  if (round < 64) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(round < 1024 ? 50 : 1000));
  }
}

}  // namespace

struct NcclProcessGroup::Shared {
  struct Pending {
    uint64_t sequence;
    std::string op;
    std::shared_ptr<OpEvent> done;
  };

  explicit Shared(size_t trace_capacity) : trace(trace_capacity) {}

  WorldInfo world;
  OpTrace trace;
  double timeout_seconds = 300;
  bool blocking_wait = false;
  int device = -1;
  cuda::DeviceContext* context = nullptr;

  // Every NCCL call, and the state below, under this mutex: a communicator is not
  // thread-safe, and an abort must not race an op being enqueued. Timed, so abort_job
  // still ends the job when a thread hangs inside NCCL holding it.
  mutable std::timed_mutex mutex;
  ncclComm_t comm = nullptr;  // null once aborted or destroyed
  bool unusable = false;
  std::string unusable_reason;
  uint64_t next_sequence = 1;
  std::deque<Pending> pending;  // issued ops not yet seen finished, in issue order
  void* barrier_word = nullptr;  // one device int32, owned by the communication stream

  std::string where() const {
    return fmt::format("rank {} of {} ({}, cuda:{})", world.rank, world.size, world.host, device);
  }
  std::string trace_text() const {
    return trace.format(fmt::format("NCCL collective trace of rank {} of {} ({}, cuda:{})", world.rank,
                                    world.size, world.host, device));
  }

  // ---- Under `mutex` ----

  void throw_if_unusable_locked(const std::string& op) const {
    if (unusable)
      throw Error(fmt::format("{}: the NCCL process group cannot be used any more: {}", op, unusable_reason));
  }

  // Aborts the communicator (its kernels stop, so no stream waits on it forever) and makes
  // the group unusable. Not throwing: this runs on the way out with another error, which
  // matters more than the abort's own code.
  void abort_locked(const std::string& reason) {
    if (!unusable) {
      unusable = true;
      unusable_reason = reason;
    }
    if (comm == nullptr) return;
    ncclComm_t aborted = comm;
    comm = nullptr;
    (void)cudaSetDevice(device);
    const ncclResult_t code = ncclCommAbort(aborted);
    if (code != ncclSuccess)
      std::fprintf(stderr, "torus: [%s] ncclCommAbort failed: %s\n", where().c_str(), ncclGetErrorString(code));
  }

  // Marks the ops whose events have completed as done (events on one stream end in order).
  void sweep_locked() {
    while (!pending.empty() && context->event_done(pending.front().done->event)) {
      trace.set_state(pending.front().sequence, OpState::done);
      pending.pop_front();
    }
  }

  // An asynchronous NCCL error (a peer gone, a network failure) aborts and throws, naming
  // `during` (the op being issued or waited for) and the oldest unfinished op.
  void check_async_error_locked(const std::string& during) {
    if (comm == nullptr) return;
    ncclResult_t async = ncclSuccess;
    TORUS_NCCL(ncclCommGetAsyncError(comm, &async));
    if (async == ncclSuccess || async == ncclInProgress) return;
    const char* detail = ncclGetLastError(comm);
    std::string failed;
    if (!pending.empty()) {
      trace.set_state(pending.front().sequence, OpState::failed);
      failed = fmt::format(" (oldest unfinished op: {}, sequence {})", pending.front().op, pending.front().sequence);
    }
    const std::string message = fmt::format(
        "{} on {}: NCCL reports an asynchronous error{}: {}{}{}. The NCCL communicator was aborted "
        "(ncclCommAbort); this process group cannot be used any more: end the job (abort_job).\n{}",
        during, where(), failed, ncclGetErrorString(async), detail != nullptr && *detail ? ": " : "",
        detail != nullptr ? detail : "", trace_text());
    abort_locked(fmt::format("{}: asynchronous NCCL error: {}", during, ncclGetErrorString(async)));
    throw cuda::NcclError(message, static_cast<int>(async));
  }

  // ---- Taking `mutex` ----

  // Runs `body` as op `label` on the communication stream, after compute, and returns its
  // handle (blocking: wait() synchronizes).
  WorkPtr issue(const std::shared_ptr<Shared>& self, std::string label, std::string dtype, size_t bytes,
                std::vector<Tensor> tensors, const Body& body, bool blocking);

  // Blocks until every op up to `sequence` has finished (`what`: the op waited for, for the
  // messages); past the timeout aborts and throws CommTimeoutError.
  void block_until(uint64_t sequence, const std::string& what);
};

namespace {

class NcclOpWork final : public NcclWork {
 public:
  using Shared = NcclProcessGroup::Shared;

  NcclOpWork(std::shared_ptr<Shared> shared, std::string op, uint64_t sequence, std::shared_ptr<OpEvent> done,
             std::vector<Tensor> tensors, bool blocking)
      : NcclWork(std::move(op), sequence),
        shared_(std::move(shared)),
        done_(std::move(done)),
        tensors_(std::move(tensors)),
        blocking_(blocking) {}

  void wait() override {
    if (blocking_) {
      synchronize();
      return;
    }
    std::lock_guard lock(shared_->mutex);
    if (shared_->context->event_done(done_->event)) return;
    shared_->throw_if_unusable_locked(op());
    shared_->check_async_error_locked(fmt::format("{} (sequence {})", op(), sequence()));
    shared_->context->compute_wait_for(done_->event);
  }

  bool is_completed() const override {
    std::lock_guard lock(shared_->mutex);
    return shared_->context->event_done(done_->event);
  }

  void synchronize() override { shared_->block_until(sequence(), op()); }

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<OpEvent> done_;
  std::vector<Tensor> tensors_;  // their storage lives as long as the handle (process_group.h)
  bool blocking_;
};

}  // namespace

WorkPtr NcclProcessGroup::Shared::issue(const std::shared_ptr<Shared>& self, std::string label,
                                        std::string dtype, size_t bytes, std::vector<Tensor> tensors, const Body& body,
                                        bool blocking) {
  std::lock_guard lock(mutex);
  throw_if_unusable_locked(label);
  const uint64_t sequence = next_sequence++;
  trace.add(sequence, label, std::move(dtype), bytes);
  std::shared_ptr<OpEvent> done;
  try {
    sweep_locked();
    check_async_error_locked(fmt::format("{} (sequence {})", label, sequence));
    context->make_current();
    context->comm_wait_for_compute();
    const cudaStream_t stream = context->comm_stream();
    // The allocator knows blocks by their start: a view's storage, not its first element.
    for (const Tensor& tensor : tensors)
      if (tensor.nbytes() > 0) context->allocator().record_stream(tensor.storage()->data(), stream);
    trace.set_state(sequence, OpState::running);
    body(comm, stream);
    done = std::make_shared<OpEvent>(context->record(stream));
  } catch (const std::exception& e) {
    if (unusable) throw;  // an asynchronous error: aborted and reported already
    // Once its sequence number is taken, an op that fails on one rank leaves the ranks out of step.
    trace.set_state(sequence, OpState::failed);
    abort_locked(fmt::format("{} (sequence {}) failed: {}", label, sequence, e.what()));
    rethrow_prefixed(fmt::format("{} (sequence {}) failed on {}; the NCCL communicator was aborted and this "
                                 "process group cannot be used any more: ",
                                 label, sequence, where()));
  }
  pending.push_back({sequence, label, done});
  return std::make_shared<NcclOpWork>(self, std::move(label), sequence, std::move(done), std::move(tensors),
                                      blocking || blocking_wait);
}

void NcclProcessGroup::Shared::block_until(uint64_t sequence, const std::string& what) {
  const auto start = Clock::now();
  for (int round = 0;; ++round) {
    {
      std::lock_guard lock(mutex);
      sweep_locked();
      if (pending.empty() || pending.front().sequence > sequence) return;
      throw_if_unusable_locked(what);
      check_async_error_locked(sequence == UINT64_MAX ? what : fmt::format("{} (sequence {})", what, sequence));
      const double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (waited > timeout_seconds) {
        const Pending& stuck = pending.front();
        trace.set_state(stuck.sequence, OpState::timed_out);
        const std::string behind =
            stuck.sequence == sequence || sequence == UINT64_MAX
                ? std::string()
                : fmt::format(" (waiting for {}, sequence {}, queued behind it)", what, sequence);
        const std::string message = fmt::format(
            "{} (sequence {}) timed out on {}: not complete after waiting {:.2f} s (timeout {:g} s){}; it was "
            "issued to the communication stream, so another rank has not issued it, issued another op, or "
            "failed. The NCCL communicator was aborted (ncclCommAbort); this process group cannot be used any "
            "more: end the job (abort_job).\n{}",
            stuck.op, stuck.sequence, where(), waited, timeout_seconds, behind, trace_text());
        abort_locked(fmt::format("{} (sequence {}) timed out", stuck.op, stuck.sequence));
        throw CommTimeoutError(message);
      }
    }
    back_off(round);
  }
}

int NcclProcessGroup::choose_device(int requested, int local_rank, int device_count) {
  if (device_count <= 0) throw Error("NcclProcessGroup: this process sees no CUDA device");
  if (requested == -1) return local_rank % device_count;
  TORUS_CHECK(requested >= 0 && requested < device_count,
              "NcclProcessGroup: device cuda:{} was asked for, but this process sees {} CUDA device{} (cuda:0 to "
              "cuda:{})",
              requested, device_count, device_count == 1 ? "" : "s", device_count - 1);
  return requested;
}

void NcclProcessGroup::check_device_tensor(const char* op, const Tensor& tensor, const char* what, int device) {
  TORUS_CHECK(tensor.defined(), "{}: {} is an undefined tensor", op, what);
  TORUS_CHECK(tensor.device().type == DeviceType::cuda,
              "{}: {} is on {}; the NCCL process group takes device tensors on cuda:{} (host tensors need the "
              "MPI process group)",
              op, what, tensor.device().str(), device);
  TORUS_CHECK(tensor.device().index == device,
              "{}: {} is on {}, but this rank's NCCL process group runs on cuda:{}", op, what,
              tensor.device().str(), device);
  TORUS_CHECK(tensor.is_contiguous(), "{}: {} of shape {} is not contiguous (call .contiguous())", op, what,
              tensor.shape_str());
}

NcclProcessGroup::NcclProcessGroup(ProcessGroup& host, const ProcessGroupOptions& options,
                                   const NcclOptions& nccl)
    : host_(&host) {
  start(options, nccl);
}

NcclProcessGroup::NcclProcessGroup(std::unique_ptr<ProcessGroup> host, const ProcessGroupOptions& options,
                                   const NcclOptions& nccl)
    : owned_host_(std::move(host)), host_(owned_host_.get()) {
  TORUS_CHECK(host_ != nullptr, "NcclProcessGroup: the host process group is null");
  start(options, nccl);
}

void NcclProcessGroup::start(const ProcessGroupOptions& options, const NcclOptions& nccl) {
  TORUS_CHECK(options.timeout_seconds > 0, "NcclProcessGroup: timeout_seconds must be > 0, got {}",
              options.timeout_seconds);
  shared_ = std::make_shared<Shared>(options.trace_capacity);
  Shared& shared = *shared_;
  shared.world = host_->world();
  shared.timeout_seconds = options.timeout_seconds;
  shared.blocking_wait = nccl.blocking_wait;

  // Every rank decides alike, so that none enters the bootstrap alone and waits for the others.
  std::string why_not;
  try {
    const int count = cuda::device_count();
    if (count == 0) throw Error("NcclProcessGroup: " + cuda::why_no_device());
    shared.device = choose_device(nccl.device, shared.world.local_rank, count);
    shared.context = &cuda::device_context(shared.device);
  } catch (const std::exception& e) {
    why_not = e.what();
  }
  Tensor missing = Tensor::from_data<int32_t>({why_not.empty() ? 0 : 1}, {1});
  host_->all_reduce(missing)->wait();
  const int32_t ranks_without = missing.to_vector<int32_t>()[0];
  if (ranks_without != 0)
    throw Error(fmt::format("NcclProcessGroup: {} of {} ranks cannot use a CUDA device; rank {}: {}", ranks_without,
                            shared.world.size, shared.world.rank,
                            why_not.empty() ? fmt::format("cuda:{} is usable", shared.device) : why_not));

  shared.comm = make_nccl_communicator(*host_, shared.device);
  try {
    shared.context->make_current();
    const cudaStream_t stream = shared.context->comm_stream();
    shared.barrier_word = shared.context->allocator().allocate(sizeof(int32_t), stream);
    TORUS_CUDA(cudaMemsetAsync(shared.barrier_word, 0, sizeof(int32_t), stream));
  } catch (...) {
    std::lock_guard lock(shared.mutex);
    shared.abort_locked("NcclProcessGroup: set-up failed");
    throw;
  }
}

NcclProcessGroup::~NcclProcessGroup() {
  Shared& shared = *shared_;
  // The ops' tensors may still be read: let the issued ops end (with the timeout) first.
  bool usable = false;
  {
    std::lock_guard lock(shared.mutex);
    usable = !shared.unusable;
  }
  if (usable) {
    try {
      shared.block_until(UINT64_MAX, "destroying the NCCL process group");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "torus: [%s] %s\n", shared.where().c_str(), e.what());
    }
  }
  std::lock_guard lock(shared.mutex);
  if (shared.comm != nullptr) {
    (void)cudaSetDevice(shared.device);
    const ncclResult_t code = ncclCommDestroy(shared.comm);
    if (code != ncclSuccess)
      std::fprintf(stderr, "torus: [%s] ncclCommDestroy failed: %s\n", shared.where().c_str(),
                   ncclGetErrorString(code));
    shared.comm = nullptr;
  }
  if (shared.barrier_word != nullptr) {
    shared.context->allocator().deallocate(shared.barrier_word);
    shared.barrier_word = nullptr;
  }
  if (!shared.unusable) {
    shared.unusable = true;
    shared.unusable_reason = "it was destroyed";
  }
}

const WorldInfo& NcclProcessGroup::world() const { return shared_->world; }

int NcclProcessGroup::device() const { return shared_->device; }

uint64_t NcclProcessGroup::next_sequence() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->next_sequence;
}

std::string NcclProcessGroup::trace() const { return shared_->trace_text(); }

WorkPtr NcclProcessGroup::all_reduce(const Tensor& tensor, ReduceOp op) {
  check_device_tensor("all_reduce", tensor, "tensor", device());
  detail::check_reducible("all_reduce", tensor.dtype(), op);
  void* data = tensor.raw_data();
  const size_t count = static_cast<size_t>(tensor.numel());
  const ncclDataType_t type = nccl_data_type(tensor.dtype());
  const ncclRedOp_t reduce = nccl_reduce_op(op);
  return shared_->issue(
      shared_, detail::op_label("all_reduce", reduce_op_name(op)), std::string(dtype_name(tensor.dtype())),
      tensor.nbytes(), {tensor},
      [=](ncclComm_t comm, cudaStream_t stream) {
        TORUS_NCCL(ncclAllReduce(data, data, count, type, reduce, comm, stream));
      },
      false);
}

WorkPtr NcclProcessGroup::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op) {
  check_device_tensor("reduce_scatter", input, "input", device());
  check_device_tensor("reduce_scatter", output, "output", device());
  detail::check_same_dtype("reduce_scatter", input, output);
  detail::check_reducible("reduce_scatter", input.dtype(), op);
  detail::check_multiple("reduce_scatter", output, input, size(), "output", "input");
  const void* in = input.raw_data();
  void* out = output.raw_data();
  const size_t count = static_cast<size_t>(output.numel());
  const ncclDataType_t type = nccl_data_type(input.dtype());
  const ncclRedOp_t reduce = nccl_reduce_op(op);
  return shared_->issue(
      shared_, detail::op_label("reduce_scatter", reduce_op_name(op)), std::string(dtype_name(input.dtype())),
      input.nbytes(), {input, output},
      [=](ncclComm_t comm, cudaStream_t stream) {
        TORUS_NCCL(ncclReduceScatter(in, out, count, type, reduce, comm, stream));
      },
      false);
}

WorkPtr NcclProcessGroup::all_gather(const Tensor& input, const Tensor& output) {
  check_device_tensor("all_gather", input, "input", device());
  check_device_tensor("all_gather", output, "output", device());
  detail::check_same_dtype("all_gather", input, output);
  detail::check_multiple("all_gather", input, output, size(), "input", "output");
  const void* in = input.raw_data();
  void* out = output.raw_data();
  const size_t count = static_cast<size_t>(input.numel());
  const ncclDataType_t type = nccl_data_type(input.dtype());
  return shared_->issue(
      shared_, "all_gather", std::string(dtype_name(input.dtype())), output.nbytes(), {input, output},
      [=](ncclComm_t comm, cudaStream_t stream) { TORUS_NCCL(ncclAllGather(in, out, count, type, comm, stream)); },
      false);
}

WorkPtr NcclProcessGroup::broadcast(const Tensor& tensor, int root) {
  check_device_tensor("broadcast", tensor, "tensor", device());
  detail::check_root("broadcast", root, size());
  void* data = tensor.raw_data();
  const size_t count = static_cast<size_t>(tensor.numel());
  const ncclDataType_t type = nccl_data_type(tensor.dtype());
  return shared_->issue(
      shared_, detail::op_label("broadcast", fmt::format("root {}", root)), std::string(dtype_name(tensor.dtype())),
      tensor.nbytes(), {tensor},
      [=](ncclComm_t comm, cudaStream_t stream) {
        TORUS_NCCL(ncclBroadcast(data, data, count, type, root, comm, stream));
      },
      false);
}

WorkPtr NcclProcessGroup::barrier() {
  void* word = shared_->barrier_word;
  // Not announced to the allocator: the word is the communication stream's own block.
  return shared_->issue(
      shared_, "barrier", "", 0, {},
      [=](ncclComm_t comm, cudaStream_t stream) {
        TORUS_NCCL(ncclAllReduce(word, word, 1, ncclInt32, ncclSum, comm, stream));
      },
      true);
}

void NcclProcessGroup::synchronize() { shared_->block_until(UINT64_MAX, "synchronize"); }

void NcclProcessGroup::abort_communicator(const std::string& reason) {
  std::lock_guard lock(shared_->mutex);
  shared_->abort_locked(reason);
}

void NcclProcessGroup::abort_job(const std::string& reason) {
  {
    // A thread stuck inside NCCL may hold the mutex: the job ends without the abort then.
    std::unique_lock lock(shared_->mutex, std::defer_lock);
    if (lock.try_lock_for(std::chrono::seconds(2))) shared_->abort_locked("abort_job: " + reason);
  }
  // A timeout's message holds the trace already; with one in it, the host group adds none.
  const bool has_trace = reason.find("collective trace of rank") != std::string::npos;
  host_->abort_job(has_trace ? reason : reason + "\n" + trace());
  std::_Exit(EXIT_FAILURE);  // not reached: the host group's abort_job does not return
}

}  // namespace torus::comm
