// The task loop of the communication thread.
#include "distributed/comm/comm_thread.h"

#include <sched.h>

#include <chrono>
#include <cstdio>
#include <exception>

namespace torus::comm {

namespace {
constexpr auto kSpin = std::chrono::microseconds(30);
}  // namespace

CommThread::CommThread() : thread_([queue = queue_] { run(queue); }) {}

CommThread::~CommThread() { stop_and_join(); }

void CommThread::post(Task task) {
  {
    std::lock_guard lock(queue_->mutex);
    if (queue_->stopping) return;
    queue_->tasks.push_back(std::move(task));
    queue_->posted.fetch_add(1, std::memory_order_release);
  }
  queue_->wake.notify_one();
}

void CommThread::stop_and_join() {
  {
    std::lock_guard lock(queue_->mutex);
    queue_->stopping = true;
  }
  queue_->wake.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CommThread::abandon() {
  {
    std::lock_guard lock(queue_->mutex);
    queue_->stopping = true;
    queue_->tasks.clear();
  }
  queue_->wake.notify_one();
  if (thread_.joinable()) thread_.detach();
}

void CommThread::run(const std::shared_ptr<Queue>& queue) {
  uint64_t seen = 0;
  for (;;) {
    // The next op of a burst usually comes within microseconds: look before sleeping.
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; queue->posted.load(std::memory_order_acquire) == seen; ++i) {
      if ((i & 63) == 0 && std::chrono::steady_clock::now() - start > kSpin) break;
      sched_yield();  // not a pause: the other thread may share this core (mpirun binds ranks to cores)
    }
    Task task;
    {
      std::unique_lock lock(queue->mutex);
      queue->wake.wait(lock, [&] { return queue->stopping || !queue->tasks.empty(); });
      if (queue->tasks.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue->tasks.front());
      queue->tasks.pop_front();
      seen = queue->posted.load(std::memory_order_relaxed) - queue->tasks.size();
    }
    try {
      task();
    } catch (const std::exception& e) {
      // Tasks report their errors through their Work; reaching here is a Torus bug.
      std::fprintf(stderr, "torus: internal error: a communication task threw: %s\n", e.what());
    }
  }
}

}  // namespace torus::comm
