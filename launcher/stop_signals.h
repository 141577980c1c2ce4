// StopSignals: SIGTERM and SIGUSR1 (what Slurm and `torus launch` send before a time limit
// or a preemption) become a request to stop after the current step. Every thread of the
// process blocks them, and one thread waits for them (sigtimedwait) and records the first.
//
// Why not a signal handler: the kernel runs a handler on the stack of whichever thread it
// interrupts, and the JIT GEMM kernels of oneDNN 2.x (Debian's; fixed upstream in 2026,
// oneDNN issue 4845) point the stack register into the heap while they run. A handler
// landing in a GEMM wrote its frame over heap memory: a rank crashed in free() or in the
// autograd graph about one run in ten after SIGUSR1. A blocked signal is never delivered to
// a thread, so no frame is written anywhere.
#pragma once

#include <atomic>
#include <thread>

namespace torus::cli {

class StopSignals {
 public:
  // Blocks the signals in the calling thread, and so in every thread it creates from now
  // on (MPI's, OpenMP's, the data loader's): make it before any of them exists. A child of
  // fork (MPI's daemon) gets them unblocked. A signal that arrives before training starts
  // is kept, and stops the run after its first step.
  StopSignals();
  // Stops the waiting thread. The signals stay blocked: one arriving now (the run is
  // ending) is dropped with the process.
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first signal received, 0 while none has been.
  int received() const { return received_.load(std::memory_order_relaxed); }

 private:
  void wait_for_signals();

  std::atomic<int> received_{0};
  std::atomic<bool> stopping_{false};
  std::thread waiter_;  // last: starts once the members it uses exist
};

}  // namespace torus::cli
