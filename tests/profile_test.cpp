// The op profiler: off by default; when on, every op's forward and every node's backward
// is an event of the Chrome trace, with a memory counter and a per-op summary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "framework/ops/ops.h"
#include "framework/profile/profiler.h"
#include "framework/tensor/random.h"

namespace torus {
namespace {

Tensor small_step(Generator& gen) {
  Tensor x = Tensor::randn({8, 16}, gen);
  Tensor w = Tensor::randn({4, 16}, gen);
  w.set_requires_grad();
  Tensor loss = sum(relu(linear(x, w, Tensor())));
  loss.backward();
  return w.grad();
}

TEST(Profiler, RecordsNothingUntilStarted) {
  profile::stop();
  Generator gen(1);
  profile::start();
  profile::stop();
  small_step(gen);
  EXPECT_TRUE(profile::events().empty());
}

TEST(Profiler, WritesForwardAndBackwardEventsWithMemoryAsAChromeTrace) {
  Generator gen(2);
  profile::start();
  small_step(gen);
  profile::stop();
  const auto events = profile::events();
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& e : events) {
    seen.insert({e.category, e.name});
    EXPECT_GE(e.duration_ns, 0) << e.name;
  }
  EXPECT_TRUE(seen.count({"forward", "linear"}));
  EXPECT_TRUE(seen.count({"forward", "relu"}));
  EXPECT_TRUE(seen.count({"forward", "sum"}));
  bool any_backward = false;
  for (const auto& [category, name] : seen) any_backward |= category == "backward";
  EXPECT_TRUE(any_backward);

  const auto path = std::filesystem::temp_directory_path() / fmt::format("torus_profile_{}.json", ::getpid());
  const std::vector<std::string> lines = profile::write_chrome_trace(path.string());
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("host memory peak"), std::string::npos) << lines[0];
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  std::filesystem::remove(path);
  int complete = 0, counters = 0;
  for (const auto& e : doc["traceEvents"]) {
    complete += e["ph"] == "X";
    counters += e["ph"] == "C";
  }
  EXPECT_EQ(complete, static_cast<int>(events.size()));
  EXPECT_EQ(counters, complete) << "one memory sample per event";
  EXPECT_GT(doc["otherData"]["memory"]["peak_allocated_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(doc["otherData"]["ops"].empty());
}

}  // namespace
}  // namespace torus
