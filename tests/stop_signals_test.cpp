// StopSignals (launcher/stop_signals.h): SIGTERM and SIGUSR1 are blocked in the threads
// made after it (so none runs a handler), and its own thread records the first one.
#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "launcher/stop_signals.h"

namespace torus::cli {
namespace {

bool blocked_here(int signal) {
  sigset_t current;
  EXPECT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &current), 0);
  return sigismember(&current, signal) == 1;
}

// received() once it is non-zero, or 0 after two seconds.
int wait_for_signal(const StopSignals& signals) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (signals.received() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return signals.received();
}

// One process per case (a death test's child): the masks it changes stay with it.
TEST(StopSignalsDeathTest, ThreadsMadeLaterBlockThemAndTheFirstSignalIsRecorded) {
  EXPECT_EXIT(
      {
        const StopSignals signals;
        bool in_later_thread = false;
        std::thread([&] { in_later_thread = blocked_here(SIGUSR1) && blocked_here(SIGTERM); }).join();
        if (!in_later_thread || !blocked_here(SIGUSR1)) _exit(2);
        if (signals.received() != 0) _exit(3);
        // A child of fork (then maybe exec) gets the signals back.
        const pid_t child = fork();
        if (child == 0) _exit(blocked_here(SIGUSR1) || blocked_here(SIGTERM) ? 1 : 0);
        int status = 0;
        if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
          _exit(6);
        kill(getpid(), SIGUSR1);
        if (wait_for_signal(signals) != SIGUSR1) _exit(4);
        kill(getpid(), SIGTERM);  // a second one does not replace the first
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        _exit(signals.received() == SIGUSR1 ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace torus::cli
