// The no-silent-hang path, run by tests/comm_expect_abort.sh under mpirun with 2 ranks:
// rank 1 skips the third collective (`skip`), issues a barrier in its place (`mismatch`),
// or stops its whole process (`stopped`, SIGSTOP: not even its responder thread answers);
// rank 0's wait must throw within the timeout, naming the op, its sequence number and what
// rank 1 was doing instead, refuse further ops, and then end the whole job with abort_job
// (rank 1, asleep or stopped, is taken down with it). The op is a small all-reduce, which
// runs through shared memory on rank 0's own thread (`inline`, the default), or is queued
// to the communication thread and MPI (`queued`: shared memory off).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "distributed/comm/mpi_process_group.h"
#include "distributed/comm/world.h"

using namespace torus;
using namespace torus::comm;

namespace {

constexpr double kTimeoutSeconds = 2;

int fail(const std::string& why) {
  std::fprintf(stderr, "comm_timeout_test: %s\n", why.c_str());
  return 2;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string path = argc > 2 ? argv[2] : "inline";
  if ((mode != "skip" && mode != "mismatch" && mode != "stopped") || (path != "inline" && path != "queued"))
    return fail("usage: comm_timeout_test skip|mismatch|stopped [inline|queued]");
  const bool run_inline = path == "inline";
  std::unique_ptr<ProcessGroup> group =
      make_process_group({.timeout_seconds = kTimeoutSeconds, .shared_memory = run_inline});
  if (group->size() != 2) return fail("run me with 2 ranks");
  auto* mpi = dynamic_cast<MpiProcessGroup*>(group.get());
  if (mpi == nullptr) return fail("run me under mpirun");
  Tensor t = Tensor::ones({1000});
  group->all_reduce(t)->wait();  // sequence 1
  group->barrier()->wait();      // sequence 2

  if (group->rank() == 1) {
    // Skips sequence 3, or makes it another op (not waited for: rank 0 must report it).
    // Rank 0 must abort the job long before this sleep ends.
    WorkPtr other = mode == "mismatch" ? group->barrier() : nullptr;
    if (mode == "stopped") std::raise(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return fail("rank 1 was not taken down by rank 0's abort_job");
  }

  const auto start = std::chrono::steady_clock::now();
  const int64_t inline_before = mpi->inline_ops();
  try {
    WorkPtr work = group->all_reduce(t);  // sequence 3: rank 1 never joins
    if (mpi->inline_ops() - inline_before != (run_inline ? 1 : 0))
      return fail(fmt::format("the all_reduce did not run {}", run_inline ? "inline" : "queued"));
    work->wait();
    return fail("the all_reduce rank 1 skipped completed");
  } catch (const CommTimeoutError& e) {
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string message = e.what();
    if (waited < kTimeoutSeconds || waited > kTimeoutSeconds + 5)  // + asking the other rank
      return fail(fmt::format("the wait threw after {:.2f} s, not about {} s", waited,
                              kTimeoutSeconds));
    const std::string rank_1 =
        mode == "skip"       ? "rank 1 has not issued it (its newest op is sequence 2, barrier, done)"
        : mode == "mismatch" ? "rank 1 issued sequence 3 as barrier, not all_reduce(sum)"
                             : "rank 1 did not answer within 1 s (dead, or the whole process is stuck)";
    for (const std::string& part : {std::string("all_reduce(sum) (sequence 3) timed out on rank 0 of 2"),
                                    std::string("not complete after waiting 2."),
                                    std::string("it was running (in MPI or shared memory)"),
                                    std::string("ranks that did not arrive: 1 ("), rank_1,
                                    std::string("collective trace of rank 0 of 2"),
                                    std::string("timed out\n")}) {
      if (!contains(message, part))
        return fail(fmt::format("the message lacks '{}':\n{}", part, message));
    }
    try {
      group->barrier();
      return fail("the group queued an op after a timeout");
    } catch (const Error& later) {
      if (!contains(later.what(), "cannot be used any more: all_reduce(sum) (sequence 3) timed out"))
        return fail(fmt::format("unexpected error for an op after the timeout: {}", later.what()));
    }
    std::printf("comm_timeout_test: rank 0 timed out as expected after %.2f s\n", waited);
    std::fflush(stdout);
    group->abort_job(message);
  }
}
