// The task loop of the communication thread.
#include "distributed/comm/comm_thread.h"

#include <cstdio>
#include <exception>

namespace torus::comm {

CommThread::CommThread() : thread_([queue = queue_] { run(queue); }) {}

CommThread::~CommThread() { stop_and_join(); }

void CommThread::post(Task task) {
  {
    std::lock_guard lock(queue_->mutex);
    if (queue_->stopping) return;
    queue_->tasks.push_back(std::move(task));
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
  for (;;) {
    Task task;
    {
      std::unique_lock lock(queue->mutex);
      queue->wake.wait(lock, [&] { return queue->stopping || !queue->tasks.empty(); });
      if (queue->tasks.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue->tasks.front());
      queue->tasks.pop_front();
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
