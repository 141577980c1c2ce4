// CommThread: one thread that runs posted tasks in order. A process group gives it
// every call into its communication library, so that library is used by a single
// thread and the caller's compute continues while an op runs. After a task the thread
// spins for a few microseconds before it sleeps, so back-to-back small ops do not each
// pay a wake-up.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace torus::comm {

class CommThread {
 public:
  using Task = std::function<void()>;  // must not throw: report failures through a Work

  CommThread();
  // Runs the tasks still queued, then joins (see abandon()).
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  void post(Task task);
  // Runs the tasks still queued, then ends the thread; later posts are dropped.
  void stop_and_join();
  // For a thread stuck in a call that may never return (a collective a peer never
  // joined): stop waiting for it. The thread is detached and dies with the process.
  void abandon();

 private:
  // Shared with the thread, so an abandoned thread never touches a destroyed CommThread.
  struct Queue {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Task> tasks;
    bool stopping = false;
    std::atomic<uint64_t> posted{0};  // bumped by post(): the spin watches it without the mutex
  };
  static void run(const std::shared_ptr<Queue>& queue);

  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::thread thread_;
};

}  // namespace torus::comm
