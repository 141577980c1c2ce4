// Progress of a training run for the person watching: on a terminal one line rewritten
// in place (step/total, loss, throughput, ETA); otherwise plain lines, so logs and CI
// output stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace torus::train {

class Progress {
 public:
  // `unit` names what throughput counts ("samples" or "tokens").
  Progress(int64_t total_steps, std::string unit, std::FILE* out = stdout);
  // Called every logged step; `per_second` is the throughput since the last call.
  void update(int64_t step, double loss, double per_second);
  // Ends the live line (if any) so the next output starts on its own line.
  void finish();
  // Prints a line of its own without breaking the live line.
  void print(const std::string& line);

  static std::string format_duration(double seconds);

 private:
  int64_t total_;
  std::string unit_;
  std::FILE* out_;
  bool live_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace torus::train
