// NodeBarrier: a barrier among the processes of one node, living in memory they share.
// Arrivals count up one word; the last one advances a generation word. Waiters spin
// (yielding the core after 50 us: ranks may outnumber cores) for up to 2 ms, about what a
// round of a large collective takes, then sleep on the generation word with a futex, so a
// rank that arrives early does not take a core from the compute of the ranks still on
// their way (2 ranks on 2 cores is the common case).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "kernels/common/error.h"

namespace torus::comm {

// The other parties did not arrive by the deadline. Its own type, so a caller that waits
// on the caller's thread can turn it into the process group's timeout report.
class NodeBarrierTimeout : public Error {
 public:
  using Error::Error;
};

class NodeBarrier {
 public:
  // The words in shared memory: zeroed by one process before any uses them.
  struct alignas(64) Words {
    std::atomic<uint32_t> arrived;
    std::atomic<uint32_t> generation;
    std::atomic<uint32_t> sleepers;
  };
  static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared-memory atomics");

  // The end of a wait, and the limit it came from (for the message).
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    double seconds;
  };

  NodeBarrier(Words* words, int parties) : words_(words), parties_(static_cast<uint32_t>(parties)) {}

  // Returns once every party has arrived; throws NodeBarrierTimeout if the others have not
  // arrived by the deadline (a peer died or is stuck outside this collective).
  void arrive_and_wait(const Deadline& deadline);

 private:
  Words* words_;
  uint32_t parties_;
};

}  // namespace torus::comm
