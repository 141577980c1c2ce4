// Work: the async handle every collective returns. wait() blocks until the op is done,
// for at most the group's timeout, and rethrows the op's error; is_completed() polls.
// Backends subclass it (a queued MPI op here; a CUDA event for NCCL later).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/common/error.h"

namespace torus::comm {

// A collective did not finish within the group's timeout. The message names the op, its
// sequence number, how long it waited, and holds the collective trace of this rank.
class CommTimeoutError : public Error {
 public:
  using Error::Error;
};

class Work {
 public:
  virtual ~Work() = default;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

  // Blocks until the op has finished; throws its error, or CommTimeoutError past the timeout.
  virtual void wait() = 0;
  // True once the op has finished, successfully or not; never blocks.
  virtual bool is_completed() const = 0;

  const std::string& op() const { return op_; }
  uint64_t sequence() const { return sequence_; }

 protected:
  Work(std::string op, uint64_t sequence) : op_(std::move(op)), sequence_(sequence) {}

 private:
  std::string op_;
  uint64_t sequence_;
};

using WorkPtr = std::shared_ptr<Work>;

// An op that ran synchronously when it was issued (the world of one).
class CompletedWork final : public Work {
 public:
  CompletedWork(std::string op, uint64_t sequence) : Work(std::move(op), sequence) {}
  void wait() override {}
  bool is_completed() const override { return true; }
};

// An op waiting in, or running on, a communication thread's queue. The thread calls
// mark_running() and then finish(); a waiter that runs out of time calls on_timeout,
// which builds the error message (and lets the group note that it is now unusable).
// wait() spins for a few microseconds before it sleeps: a small op is over sooner than a
// sleeping thread wakes up.
class QueuedWork final : public Work {
 public:
  // (work, seconds waited, whether the op had started) -> the message of the timeout error.
  using TimeoutReporter = std::function<std::string(const QueuedWork&, double, bool)>;

  QueuedWork(std::string op, uint64_t sequence, double timeout_seconds, TimeoutReporter on_timeout);

  void mark_running();
  // Ends the op; a non-null error is rethrown by every wait().
  void finish(std::exception_ptr error = nullptr);

  void wait() override;
  bool is_completed() const override;
  double timeout_seconds() const { return timeout_seconds_; }

 private:
  enum class State { queued, running, finished };

  const double timeout_seconds_;
  TimeoutReporter on_timeout_;
  std::atomic<bool> finished_flag_{false};  // set with state_: lets wait() spin without the mutex
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  State state_ = State::queued;
  std::exception_ptr error_;
};

}  // namespace torus::comm
