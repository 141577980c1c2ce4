// Child processes of a launch (see launch_process.h).
#include "launcher/launch_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::cli {
namespace {

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};

volatile std::sig_atomic_t child_pid = 0;
volatile std::sig_atomic_t forwarded_signal = 0;

void forward_to_child(int signal) {
  forwarded_signal = signal;
  if (child_pid > 0) ::kill(child_pid, signal);
}

// Installs the forwarding handlers for its lifetime, restoring the previous ones after.
class SignalForwarding {
 public:
  SignalForwarding() {
    struct sigaction action {};
    action.sa_handler = forward_to_child;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (size_t i = 0; i < std::size(kForwardedSignals); ++i)
      if (::sigaction(kForwardedSignals[i], &action, &previous_[i]) != 0)
        throw IOError(fmt::format("sigaction({}) failed: {}", kForwardedSignals[i], std::strerror(errno)));
  }
  ~SignalForwarding() {
    for (size_t i = 0; i < std::size(kForwardedSignals); ++i) ::sigaction(kForwardedSignals[i], &previous_[i], nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

 private:
  struct sigaction previous_[std::size(kForwardedSignals)] {};
};

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) throw IOError(fmt::format("pipe2 failed: {}", std::strerror(errno)));
}

// Keeps the last line worth reporting of what the child writes to stderr.
class LastLine {
 public:
  void add(const char* data, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      if (data[i] != '\n') {
        if (line_.size() < 4096) line_ += data[i];
        continue;
      }
      note(line_);
      line_.clear();
    }
  }
  std::string result() {
    note(line_);
    return torus_line_.empty() ? last_ : torus_line_;
  }

 private:
  void note(const std::string& line) {
    if (line.find_first_not_of(" -=*\t\r") == std::string::npos) return;  // mpirun's rulers
    last_ = line;
    if (line.starts_with("torus: ")) torus_line_ = line;
  }
  std::string line_, last_, torus_line_;
};

}  // namespace

std::string ProcessResult::describe() const {
  std::string what = signal != 0 ? fmt::format("killed by signal {} ({})", signal, ::strsignal(signal))
                                 : fmt::format("exit status {}", exit_status);
  if (!last_error.empty()) what += fmt::format(" ({})", last_error);
  return what;
}

ProcessResult run_process(const std::vector<std::string>& argv, bool capture_stdout) {
  TORUS_CHECK(!argv.empty(), "run_process: no command");
  int err[2], out[2] = {-1, -1};
  make_pipe(err);
  if (capture_stdout) make_pipe(out);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  SignalForwarding forwarding;
  forwarded_signal = 0;
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    for (int fd : {err[0], err[1], out[0], out[1]})
      if (fd >= 0) ::close(fd);
    throw IOError(fmt::format("fork failed: {}", std::strerror(error)));
  }
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    ::dup2(err[1], STDERR_FILENO);
    if (capture_stdout) ::dup2(out[1], STDOUT_FILENO);
    for (int signal : kForwardedSignals) std::signal(signal, SIG_DFL);
    ::execvp(args[0], args.data());
    const char* why = std::strerror(errno);
    (void)!::write(STDERR_FILENO, "torus: cannot run ", 18);
    (void)!::write(STDERR_FILENO, args[0], std::strlen(args[0]));
    (void)!::write(STDERR_FILENO, ": ", 2);
    (void)!::write(STDERR_FILENO, why, std::strlen(why));
    (void)!::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
  }
  child_pid = pid;
  if (forwarded_signal != 0) ::kill(pid, forwarded_signal);  // it came before child_pid was set
  ::close(err[1]);
  if (capture_stdout) ::close(out[1]);

  ProcessResult result;
  LastLine last;
  pollfd fds[2] = {{err[0], POLLIN, 0}, {out[0], POLLIN, 0}};
  int open = capture_stdout ? 2 : 1;
  char buffer[65536];
  while (open > 0) {
    if (::poll(fds, capture_stdout ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      throw IOError(fmt::format("poll failed: {}", std::strerror(errno)));
    }
    for (int i = 0; i < (capture_stdout ? 2 : 1); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      if (i == 0) {
        last.add(buffer, static_cast<size_t>(n));
        (void)!::write(STDERR_FILENO, buffer, static_cast<size_t>(n));  // our stderr gone: keep reading
      } else {
        result.stdout_text.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw IOError(fmt::format("waitpid({}) failed: {}", pid, std::strerror(errno)));
  child_pid = 0;
  result.forwarded = forwarded_signal;
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  else result.exit_status = WEXITSTATUS(status);
  result.last_error = last.result();
  return result;
}

}  // namespace torus::cli
