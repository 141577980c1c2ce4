// NodeBarrier: a barrier among the processes of one node, living in memory they share.
// Arrivals count up one word; the last one advances a generation word. Waiters spin
// (yielding the core after 50 us: ranks may outnumber cores) for up to 2 ms, about what a
// round of a large collective takes, then sleep on the generation word with a futex, so a
// rank that arrives early does not take a core from the compute of the ranks still on
// their way (2 ranks on 2 cores is the common case).
#pragma once

#include <atomic>
#include <cstdint>

namespace torus::comm {

class NodeBarrier {
 public:
  // The words in shared memory: zeroed by one process before any uses them.
  struct alignas(64) Words {
    std::atomic<uint32_t> arrived;
    std::atomic<uint32_t> generation;
    std::atomic<uint32_t> sleepers;
  };
  static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared-memory atomics");

  NodeBarrier(Words* words, int parties, double timeout_seconds)
      : words_(words), parties_(static_cast<uint32_t>(parties)), timeout_seconds_(timeout_seconds) {}

  // Returns once every party has arrived; throws Error naming the wait if the others do
  // not arrive within the timeout (a peer died or is stuck outside this collective).
  void arrive_and_wait();

 private:
  Words* words_;
  uint32_t parties_;
  double timeout_seconds_;
};

}  // namespace torus::comm
