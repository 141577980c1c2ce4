// Shared by the kernel benchmarks: options, alternating timed repetitions, statistics,
// and the output (one JSON object per measurement on stdout, a table on stderr).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace torus::bench {

struct Options {
  int threads = 2;
  int reps = 7;                  // timed repetitions per candidate, after warm-up
  double min_rep_seconds = 0.04;  // each repetition runs enough iterations to last this long
};

inline void usage_and_exit(const char* program, const char* what) {
  std::fprintf(stderr,
               "usage: %s [--threads N] [--reps N] [--min-rep-ms MS]\n"
               "  %s\n"
               "  JSON lines on stdout, a table on stderr.\n",
               program, what);
  std::exit(2);
}

// The arguments of the benchmarks that train from an experiment config (ddp_overlap_bench,
// step_profile_bench): CONFIG [--warmup N] [--steps N] [key=value config overrides ...].
struct ConfigRunOptions {
  std::string config;
  int warmup = 3;
  int steps = 10;
  std::vector<std::string> overrides;
};

// Exits with `usage` (a printf format taking the program name) on anything else.
inline ConfigRunOptions parse_config_run(int argc, char** argv, int default_steps, const char* usage) {
  ConfigRunOptions o;
  o.steps = default_steps;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--warmup" || arg == "--steps") && i + 1 < argc) {
      (arg == "--warmup" ? o.warmup : o.steps) = std::atoi(argv[++i]);
    } else if (arg.find('=') != std::string_view::npos) {
      o.overrides.emplace_back(arg);
    } else if (o.config.empty() && !arg.starts_with("--")) {
      o.config = arg;
    } else {
      o.config.clear();
      break;
    }
  }
  if (o.config.empty() || o.warmup < 1 || o.steps < 1) {
    std::fprintf(stderr, usage, argv[0]);
    std::exit(2);
  }
  return o;
}

inline Options parse_options(int argc, char** argv, const char* what) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage_and_exit(argv[0], what);
    const int value = std::atoi(argv[++i]);
    if (value <= 0) usage_and_exit(argv[0], what);
    if (arg == "--threads") {
      options.threads = value;
    } else if (arg == "--reps") {
      options.reps = std::max(value, 5);  // the protocol's minimum
    } else if (arg == "--min-rep-ms") {
      options.min_rep_seconds = value * 1e-3;
    } else {
      usage_and_exit(argv[0], what);
    }
  }
  return options;
}

inline double seconds_now() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// Seconds per call of `fn`, averaged over `iterations` back-to-back calls.
inline double time_per_call(const std::function<void()>& fn, int iterations) {
  const double start = seconds_now();
  for (int i = 0; i < iterations; ++i) fn();
  return (seconds_now() - start) / iterations;
}

// Warms `fn` up (three calls at least) and returns how many calls make one repetition
// last `min_seconds`.
inline int calibrate(const std::function<void()>& fn, double min_seconds) {
  for (int i = 0; i < 3; ++i) fn();
  int iterations = 1;
  for (;;) {
    const double elapsed = time_per_call(fn, iterations) * iterations;
    if (elapsed >= min_seconds) return iterations;
    const double scale = elapsed > 0 ? 1.2 * min_seconds / elapsed : 8.0;
    iterations = std::max(iterations + 1, static_cast<int>(iterations * std::min(scale, 8.0)));
  }
}

// Times the candidates alternately after warming each up, so drift in the machine's
// load hits them alike. Each round starts one candidate later (A B C, B C A, C A B, ...):
// no candidate always runs right after the same other one, whose threads may still be
// spinning down. Returns seconds per call, [candidate][repetition].
inline std::vector<std::vector<double>> time_alternating(
    const std::vector<std::function<void()>>& candidates, const Options& options) {
  const size_t n = candidates.size();
  std::vector<int> iterations;
  for (const auto& fn : candidates) iterations.push_back(calibrate(fn, options.min_rep_seconds));
  for (size_t c = 0; c < n; ++c) time_per_call(candidates[c], iterations[c]);  // one untimed round
  std::vector<std::vector<double>> seconds(n);
  for (int rep = 0; rep < options.reps; ++rep)
    for (size_t i = 0; i < n; ++i) {
      const size_t c = (static_cast<size_t>(rep) + i) % n;
      seconds[c].push_back(time_per_call(candidates[c], iterations[c]));
    }
  return seconds;
}

struct Summary {
  double median = 0, min = 0, max = 0;
};

inline double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

inline Summary summarize(const std::vector<double>& values) {
  return {median_of(values), *std::min_element(values.begin(), values.end()),
          *std::max_element(values.begin(), values.end())};
}

// Throughput per repetition: `work` units (FLOP, bytes) per call over seconds per call.
inline std::vector<double> throughput(const std::vector<double>& seconds, double work, double unit) {
  std::vector<double> rates;
  for (double s : seconds) rates.push_back(work / s / unit);
  return rates;
}

// The median of the per-repetition ratios a[i] / b[i]: the pairs ran back to back, so
// their ratio is steadier than the ratio of two medians on a noisy machine.
inline double paired_ratio(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> ratios;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) ratios.push_back(a[i] / b[i]);
  return median_of(ratios);
}

// One measurement. `extra` holds further JSON members as (key, already-encoded value).
struct Measurement {
  std::string name;
  std::string config;
  int threads = 1;
  Summary value;
  std::string unit;
  std::string peer;  // empty: none
  double ratio = 0;  // value / peer, paired
  std::vector<std::pair<std::string, std::string>> extra;
};

inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

inline std::string json_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

inline std::string json_array(const std::vector<double>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + json_number(values[i]);
  return out + "]";
}

inline void print_json(const Measurement& m) {
  std::string line = "{\"name\": " + json_string(m.name) + ", \"config\": " + json_string(m.config) +
                     ", \"threads\": " + std::to_string(m.threads) + ", \"ranks\": 1" +
                     ", \"median\": " + json_number(m.value.median) +
                     ", \"min\": " + json_number(m.value.min) +
                     ", \"max\": " + json_number(m.value.max) + ", \"unit\": " + json_string(m.unit) +
                     ", \"peer\": " + (m.peer.empty() ? "null" : json_string(m.peer)) +
                     ", \"ratio\": " + (m.peer.empty() ? "null" : json_number(m.ratio));
  for (const auto& [key, value] : m.extra) line += ", " + json_string(key) + ": " + value;
  std::printf("%s}\n", line.c_str());
  std::fflush(stdout);
}

inline void print_table_header() {
  std::fprintf(stderr, "%-16s %-40s %9s %19s %-8s %s\n", "name", "config", "median", "min-max", "unit",
               "ratio to peer");
}

inline void print_table_row(const Measurement& m) {
  char spread[64];
  std::snprintf(spread, sizeof spread, "%.1f-%.1f", m.value.min, m.value.max);
  std::fprintf(stderr, "%-16s %-40s %9.1f %19s %-8s", m.name.c_str(), m.config.c_str(), m.value.median,
               spread, m.unit.c_str());
  if (!m.peer.empty()) std::fprintf(stderr, " %.3f x %s", m.ratio, m.peer.c_str());
  std::fprintf(stderr, "\n");
}

inline void report(const Measurement& m) {
  print_json(m);
  print_table_row(m);
}

}  // namespace torus::bench
