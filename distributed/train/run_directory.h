// The run directory of DESIGN.md §3: config.resolved.yaml, train.log and metrics.jsonl
// (one JSON object per logged step). One rank writes the files; every rank logs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace torus::train {

// One line of metrics.jsonl. `timing` holds the fields that differ from run to run
// (throughput, elapsed time); everything else is determined by the config and seed.
struct MetricsRecord {
  int64_t step = 0;
  std::optional<double> loss;
  std::optional<double> lr;
  std::map<std::string, double> values;  // eval_loss, eval_accuracy, grad_norm, ...
  std::map<std::string, double> timing;  // samples_per_s or tokens_per_s, time_s
};

class RunDirectory {
 public:
  // The writer (rank 0) creates `path` (and checkpoints/) and writes every file; other
  // ranks only append their lines to its train.log, so they start after it. A run
  // resumed after `resumed_step` keeps metrics.jsonl's records up to that step (those
  // of steps after it, logged before a crash, are dropped: the run logs them again).
  RunDirectory(std::filesystem::path path, bool writer, int rank = 0, std::optional<int64_t> resumed_step = {});
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  bool writer() const { return writer_; }

  void write_resolved_config(const std::string& yaml) const;
  // A timestamped line in train.log, tagged with the rank.
  void log(const std::string& line);
  // One JSON line in metrics.jsonl, flushed so a crash loses nothing logged.
  void append_metrics(const MetricsRecord& record);

 private:
  std::filesystem::path path_;
  bool writer_;
  int rank_;
  std::FILE* log_ = nullptr;
  std::FILE* metrics_ = nullptr;
};

}  // namespace torus::train
