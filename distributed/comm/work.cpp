// The queued op's handshake between the communication thread and its waiters.
#include "distributed/comm/work.h"

#include <sched.h>

#include <chrono>

namespace torus::comm {

namespace {
constexpr auto kSpin = std::chrono::microseconds(30);
}  // namespace

QueuedWork::QueuedWork(std::string op, uint64_t sequence, double timeout_seconds,
                       TimeoutReporter on_timeout)
    : Work(std::move(op), sequence),
      timeout_seconds_(timeout_seconds),
      on_timeout_(std::move(on_timeout)) {}

void QueuedWork::mark_running() {
  std::lock_guard lock(mutex_);
  state_ = State::running;
}

void QueuedWork::finish(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    state_ = State::finished;
    error_ = std::move(error);
    finished_flag_.store(true, std::memory_order_release);
  }
  finished_.notify_all();
}

void QueuedWork::wait() {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; !finished_flag_.load(std::memory_order_acquire); ++i) {
    if ((i & 63) == 0 && std::chrono::steady_clock::now() - start > kSpin) break;
    sched_yield();  // not a pause: the other thread may share this core (mpirun binds ranks to cores)
  }
  std::unique_lock lock(mutex_);
  const bool in_time = finished_.wait_for(lock, std::chrono::duration<double>(timeout_seconds_),
                                          [this] { return state_ == State::finished; });
  if (!in_time) {
    const bool started = state_ == State::running;
    lock.unlock();
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    throw CommTimeoutError(on_timeout_(*this, waited, started));
  }
  if (error_) std::rethrow_exception(error_);
}

bool QueuedWork::is_completed() const {
  std::lock_guard lock(mutex_);
  return state_ == State::finished;
}

}  // namespace torus::comm
