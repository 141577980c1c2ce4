// StopSignals (see stop_signals.h): block, then wait in a thread of our own.
#include "launcher/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::cli {
namespace {

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}

// In a child of fork (MPI's singleton start forks its daemon, which then execs): the
// signals unblocked again, so no other program inherits the mask.
void unblock_in_child() {
  const sigset_t set = stop_set();
  (void)pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace

StopSignals::StopSignals() {
  static const int at_fork = pthread_atfork(nullptr, nullptr, unblock_in_child);  // once per process
  if (at_fork != 0) throw IOError(fmt::format("pthread_atfork failed: {}", std::strerror(at_fork)));
  const sigset_t set = stop_set();
  if (const int code = pthread_sigmask(SIG_BLOCK, &set, nullptr); code != 0)
    throw IOError(fmt::format("pthread_sigmask(SIG_BLOCK, SIGTERM and SIGUSR1) failed: {}", std::strerror(code)));
  waiter_ = std::thread([this] { wait_for_signals(); });
}

StopSignals::~StopSignals() {
  stopping_ = true;
  waiter_.join();
}

void StopSignals::wait_for_signals() {
  const sigset_t set = stop_set();
  const timespec poll{0, 100'000'000};  // how soon the destructor is noticed
  while (!stopping_) {
    const int signal = sigtimedwait(&set, nullptr, &poll);
    if (signal > 0) {
      int none = 0;
      received_.compare_exchange_strong(none, signal, std::memory_order_relaxed);  // the first one counts
    }
    // -1: EAGAIN (the poll ran out) or EINTR (another signal): wait again.
  }
}

}  // namespace torus::cli
