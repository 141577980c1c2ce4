// The shared-memory barrier: count, advance a generation, wake the sleepers.
#include "distributed/comm/node_barrier.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>

namespace torus::comm {

namespace {

using Clock = std::chrono::steady_clock;

// Spin, then spin yielding the core (ranks may outnumber cores), then sleep. A round of a
// large all-reduce takes a fraction of a millisecond; a futex wake-up costs about as much,
// so only a peer that is far behind (still computing) is waited for asleep.
constexpr auto kSpin = std::chrono::microseconds(50);
constexpr auto kYieldingSpin = std::chrono::milliseconds(2);
constexpr long kSleepSliceNs = 20'000'000;  // re-check the deadline this often

uint32_t* futex_word(std::atomic<uint32_t>& word) { return reinterpret_cast<uint32_t*>(&word); }

// Shared (not FUTEX_PRIVATE) futexes: the word is mapped by several processes.
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  const timespec slice{0, kSleepSliceNs};
  if (syscall(SYS_futex, futex_word(word), FUTEX_WAIT, expected, &slice, nullptr, 0) == -1 &&
      errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
    throw Error(fmt::format("node barrier: futex wait failed: {}", std::strerror(errno)));
}

void futex_wake_all(std::atomic<uint32_t>& word) {
  if (syscall(SYS_futex, futex_word(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0) == -1)
    throw Error(fmt::format("node barrier: futex wake failed: {}", std::strerror(errno)));
}

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace

void NodeBarrier::arrive_and_wait(const Deadline& deadline) {
  if (parties_ == 1) return;
  Words& w = *words_;
  const uint32_t generation = w.generation.load(std::memory_order_acquire);
  if (w.arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
    // Last to arrive: nobody touches `arrived` again until they see the next generation.
    w.arrived.store(0, std::memory_order_relaxed);
    w.generation.store(generation + 1, std::memory_order_seq_cst);
    if (w.sleepers.load(std::memory_order_seq_cst) != 0) futex_wake_all(w.generation);
    return;
  }
  const auto start = Clock::now();
  for (int i = 0;; ++i) {
    if (w.generation.load(std::memory_order_acquire) != generation) return;
    if ((i & 63) == 0) {
      const auto spent = Clock::now() - start;
      if (spent > kYieldingSpin) break;
      if (spent > kSpin) sched_yield();
    }
    cpu_relax();
  }
  // seq_cst on both sides: either the last arrival sees this sleeper, or this sees its
  // new generation before sleeping (and futex_wait returns at once if it changed since).
  w.sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (w.generation.load(std::memory_order_seq_cst) == generation) {
    if (Clock::now() > deadline.at) {
      w.sleepers.fetch_sub(1, std::memory_order_seq_cst);
      throw NodeBarrierTimeout(fmt::format(
          "shared-memory all-reduce: {} of the {} ranks of this node did not arrive within "
          "{:g} s (a rank died, or is stuck outside this collective)",
          parties_ - w.arrived.load(), parties_, deadline.seconds));
    }
    futex_wait(w.generation, generation);
  }
  w.sleepers.fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace torus::comm
