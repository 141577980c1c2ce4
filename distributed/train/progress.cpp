// Progress line (see progress.h).
#include "distributed/train/progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace torus::train {

Progress::Progress(int64_t total_steps, std::string unit, std::FILE* out)
    : total_(total_steps), unit_(std::move(unit)), out_(out), live_(::isatty(::fileno(out)) == 1) {}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

void Progress::update(int64_t step, double loss, double per_second) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_ - step) : NAN;
  const int width = static_cast<int>(fmt::format("{}", total_).size());
  const std::string text = fmt::format("step {:>{}}/{} ({:3.0f}%)  loss {:.4f}  {:.0f} {}/s  elapsed {}  ETA {}", step,
                                       width, total_, 100.0 * static_cast<double>(step) / static_cast<double>(total_),
                                       loss, per_second, unit_, format_duration(elapsed), format_duration(eta));
  if (live_) {
    fmt::print(out_, "\r\033[K{}", text);
    line_open_ = true;
  } else {
    fmt::print(out_, "{}\n", text);
  }
  std::fflush(out_);
}

void Progress::print(const std::string& line) {
  if (line_open_) fmt::print(out_, "\r\033[K");
  fmt::print(out_, "{}\n", line);
  line_open_ = false;
  std::fflush(out_);
}

void Progress::finish() {
  if (line_open_) fmt::print(out_, "\n");
  line_open_ = false;
  std::fflush(out_);
}

}  // namespace torus::train
