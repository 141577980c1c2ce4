// Comparing two training runs through what they wrote: metrics.jsonl records and
// final.safetensors weights, each within a relative tolerance.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"

namespace torus::test {

// A file's bytes ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline std::vector<nlohmann::json> read_metrics(const std::filesystem::path& run) {
  std::vector<nlohmann::json> records;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

// metrics.jsonl without the fields that differ from run to run.
inline std::vector<nlohmann::json> untimed_metrics(const std::filesystem::path& run) {
  std::vector<nlohmann::json> records = read_metrics(run);
  for (auto& r : records)
    for (const char* timing : {"samples_per_s", "tokens_per_s", "time_s"}) r.erase(timing);
  return records;
}

// Every record's loss, eval_loss and eval_accuracy within `tolerance` relative.
inline void expect_metrics_near(const std::filesystem::path& reference, const std::filesystem::path& run,
                                double tolerance, const std::string& what) {
  const auto want = read_metrics(reference), got = read_metrics(run);
  ASSERT_FALSE(want.empty()) << reference;
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    for (const char* key : {"loss", "eval_loss", "eval_accuracy"})
      if (want[i].contains(key)) {
        const double w = want[i][key].get<double>(), h = got[i][key].get<double>();
        EXPECT_NEAR(h, w, tolerance * std::abs(w)) << what << ", step " << got[i]["step"] << " " << key;
      }
}

// Every tensor of final.safetensors within `tolerance` of the reference's largest magnitude.
inline void expect_weights_near(const std::filesystem::path& reference, const std::filesystem::path& run,
                                double tolerance, const std::string& what) {
  const auto want = io::load_safetensors((reference / "final.safetensors").string());
  const auto got = io::load_safetensors((run / "final.safetensors").string());
  ASSERT_EQ(got.tensors.size(), want.tensors.size()) << what;
  for (size_t t = 0; t < got.tensors.size(); ++t) {
    const auto a = got.tensors[t].second.to_vector<double>();
    const auto b = want.tensors[t].second.to_vector<double>();
    ASSERT_EQ(a.size(), b.size()) << what << ", " << got.tensors[t].first;
    double scale = 0, worst = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      scale = std::max(scale, std::abs(b[i]));
      worst = std::max(worst, std::abs(a[i] - b[i]));
    }
    EXPECT_LE(worst, tolerance * scale) << what << ", " << got.tensors[t].first;
  }
}

}  // namespace torus::test
