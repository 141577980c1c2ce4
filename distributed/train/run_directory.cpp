// Run directory files (see run_directory.h).
#include "distributed/train/run_directory.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/io/durable_file.h"
#include "kernels/common/error.h"

namespace torus::train {
namespace {

std::FILE* open_for_append(const std::filesystem::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "a");
  if (f == nullptr) throw IOError(fmt::format("{}: cannot open for writing: {}", file.string(), std::strerror(errno)));
  return f;
}

void write_line(std::FILE* f, const std::string& line, const std::filesystem::path& file) {
  if (std::fputs(line.c_str(), f) < 0 || std::fputc('\n', f) == EOF || std::fflush(f) != 0)
    throw IOError(fmt::format("{}: write failed: {}", file.string(), std::strerror(errno)));
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

RunDirectory::RunDirectory(std::filesystem::path path, bool writer, int rank, std::optional<int64_t> resumed_step)
    : path_(std::move(path)), writer_(writer), rank_(rank) {
  if (!writer_) {
    // Other ranks add their lines to the writer's train.log (created before them).
    log_ = open_for_append(path_ / "train.log");
    return;
  }
  std::error_code error;
  std::filesystem::create_directories(path_ / "checkpoints", error);
  if (error) throw IOError(fmt::format("{}: cannot create the run directory: {}", path_.string(), error.message()));
  log_ = open_for_append(path_ / "train.log");
  // A fresh run starts a fresh metrics file; a resumed one continues its records.
  const auto metrics_file = path_ / "metrics.jsonl";
  if (resumed_step) {
    std::string kept;
    if (std::filesystem::exists(metrics_file)) {
      std::istringstream lines(io::read_file(metrics_file));
      for (std::string line; std::getline(lines, line);) {
        const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_object() && record.value("step", int64_t{-1}) <= *resumed_step) kept += line + "\n";
      }
    }
    io::write_file_durably(metrics_file, kept);
  }
  metrics_ = std::fopen(metrics_file.c_str(), resumed_step ? "a" : "w");
  if (metrics_ == nullptr)
    throw IOError(fmt::format("{}: cannot open for writing: {}", (path_ / "metrics.jsonl").string(), std::strerror(errno)));
}

RunDirectory::~RunDirectory() {
  if (log_ != nullptr) std::fclose(log_);
  if (metrics_ != nullptr) std::fclose(metrics_);
}

void RunDirectory::write_resolved_config(const std::string& yaml) const {
  if (!writer_) return;
  const auto file = path_ / "config.resolved.yaml";
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr) throw IOError(fmt::format("{}: cannot open for writing: {}", file.string(), std::strerror(errno)));
  const bool ok = std::fwrite(yaml.data(), 1, yaml.size(), f) == yaml.size();
  if (std::fclose(f) != 0 || !ok) throw IOError(fmt::format("{}: write failed: {}", file.string(), std::strerror(errno)));
}

void RunDirectory::log(const std::string& line) {
  const std::string tagged = fmt::format("{} [rank {}] {}", utc_timestamp(), rank_, line);
  write_line(log_, tagged, path_ / "train.log");
}

void RunDirectory::append_metrics(const MetricsRecord& record) {
  if (metrics_ == nullptr) return;
  nlohmann::ordered_json line = {{"step", record.step}};
  if (record.loss) line["loss"] = *record.loss;
  if (record.lr) line["lr"] = *record.lr;
  for (const auto& [key, value] : record.values) line[key] = value;
  for (const auto& [key, value] : record.timing) line[key] = value;
  write_line(metrics_, line.dump(), path_ / "metrics.jsonl");
}

}  // namespace torus::train
