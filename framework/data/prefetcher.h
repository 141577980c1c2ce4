// Produces batches for consecutive positions on one background thread, up to `depth`
// ahead of the consumer, and hands them out in order. An exception in the worker is
// handed out in its place (after the batches before it), and the destructor stops and
// joins the worker wherever it is, so neither an error nor an early exit is lost or hangs.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "framework/data/batch.h"

namespace torus::data {

class Prefetcher {
 public:
  using Produce = std::function<Batch(const LoaderPosition&)>;
  using Advance = std::function<LoaderPosition(const LoaderPosition&)>;

  Prefetcher(Produce produce, Advance advance, LoaderPosition start, int depth);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next batch in order; waits for the worker if it is not ready. Rethrows the
  // worker's exception when that comes next (and on every later call).
  Batch next();

 private:
  void run(LoaderPosition position);

  Produce produce_;
  Advance advance_;
  std::mutex mutex_;
  std::condition_variable changed_;
  // A fixed ring of ready batches, so handing them over allocates nothing.
  std::vector<Batch> ready_;
  size_t head_ = 0, count_ = 0;
  std::exception_ptr error_;  // comes after the ready batches
  bool stop_ = false;
  std::thread worker_;  // last: starts after everything it uses exists
};

}  // namespace torus::data
