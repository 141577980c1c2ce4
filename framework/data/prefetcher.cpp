// One producer, one consumer, a bounded ring between them under one mutex.
#include "framework/data/prefetcher.h"

#include "kernels/common/error.h"

namespace torus::data {

Prefetcher::Prefetcher(Produce produce, Advance advance, LoaderPosition start, int depth)
    : produce_(std::move(produce)), advance_(std::move(advance)), ready_(static_cast<size_t>(depth)) {
  TORUS_ASSERT(depth >= 1);
  worker_ = std::thread([this, start] { run(start); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void Prefetcher::run(LoaderPosition position) {
  try {
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return stop_ || count_ < ready_.size(); });
        if (stop_) return;
      }
      // Produced outside the lock: the consumer takes earlier batches meanwhile.
      Batch batch = produce_(position);
      position = advance_(position);
      {
        std::lock_guard lock(mutex_);
        if (stop_) return;
        ready_[(head_ + count_) % ready_.size()] = std::move(batch);
        ++count_;
      }
      changed_.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

Batch Prefetcher::next() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return count_ > 0 || error_; });
  if (count_ == 0) std::rethrow_exception(error_);
  Batch batch = std::move(ready_[head_]);
  head_ = (head_ + 1) % ready_.size();
  --count_;
  lock.unlock();
  changed_.notify_all();
  return batch;
}

}  // namespace torus::data
