// Running the processes of a launch: mpirun for a local or mpirun job, sbatch for a Slurm
// one. While a child runs, the signals a scheduler or a user sends the launcher (SIGINT,
// SIGTERM, SIGHUP, SIGUSR1, SIGUSR2) are passed on to it, so `torus launch` under a
// time limit stops the ranks as `torus train` would stop: with a checkpoint.
#pragma once

#include <string>
#include <vector>

namespace torus::cli {

struct ProcessResult {
  int exit_status = 0;      // when it exited
  int signal = 0;           // when a signal killed it
  int forwarded = 0;        // a signal the launcher received and passed on; 0: none
  std::string last_error;   // the last "torus: ..." line it wrote to stderr, else its last line there
  std::string stdout_text;  // with capture_stdout

  bool ok() const { return signal == 0 && exit_status == 0; }
  // "exit status 1 (torus: injected failure ...)", "killed by signal 9 (Killed)".
  std::string describe() const;
};

// Runs argv (argv[0] looked up on PATH) and waits for it. Its stderr passes through the
// launcher to keep its last line; stdout is inherited, or read into stdout_text.
ProcessResult run_process(const std::vector<std::string>& argv, bool capture_stdout = false);

}  // namespace torus::cli
