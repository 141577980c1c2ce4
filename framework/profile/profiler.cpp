// Profiler state and the Chrome trace writer (see profiler.h).
#include "framework/profile/profiler.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/tensor/allocator.h"
#include "kernels/common/error.h"

namespace torus::profile {
namespace detail {

std::atomic<bool> enabled{false};

namespace {
std::mutex mutex;
std::vector<Event> recorded;
std::chrono::steady_clock::time_point origin = std::chrono::steady_clock::now();
std::map<std::thread::id, uint32_t> thread_numbers;
}  // namespace

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin).count();
}

void add(std::string name, const char* category, int64_t start_ns) {
  const int64_t end_ns = now_ns();
  const uint64_t in_use = HostAllocator::instance().stats().allocated_bytes;
  std::lock_guard lock(mutex);
  if (!enabled.load(std::memory_order_relaxed)) return;
  const auto [it, inserted] =
      thread_numbers.try_emplace(std::this_thread::get_id(), static_cast<uint32_t>(thread_numbers.size()));
  recorded.push_back({std::move(name), category, start_ns, end_ns - start_ns, it->second, in_use});
}

}  // namespace detail

void start() {
  std::lock_guard lock(detail::mutex);
  detail::recorded.clear();
  detail::thread_numbers.clear();
  detail::origin = std::chrono::steady_clock::now();
  detail::enabled.store(true);
}

void stop() { detail::enabled.store(false); }

std::vector<Event> events() {
  std::lock_guard lock(detail::mutex);
  return detail::recorded;
}

std::vector<OpSummary> summarize(const std::vector<Event>& events) {
  std::map<std::pair<std::string, std::string>, OpSummary> by_op;
  for (const Event& e : events) {
    OpSummary& s = by_op[{e.category, e.name}];
    s.name = e.name;
    s.category = e.category;
    ++s.calls;
    s.total_ms += static_cast<double>(e.duration_ns) * 1e-6;
  }
  std::vector<OpSummary> out;
  for (auto& [key, s] : by_op) out.push_back(s);
  std::sort(out.begin(), out.end(), [](const OpSummary& a, const OpSummary& b) { return a.total_ms > b.total_ms; });
  return out;
}

std::vector<std::string> write_chrome_trace(const std::string& path) {
  const std::vector<Event> all = events();
  const std::vector<OpSummary> summary = summarize(all);
  const AllocatorStats memory = HostAllocator::instance().stats();

  nlohmann::json trace_events = nlohmann::json::array();
  for (const Event& e : all) {
    // Chrome trace times are microseconds.
    trace_events.push_back({{"name", e.name}, {"cat", e.category}, {"ph", "X"}, {"pid", 0}, {"tid", e.thread},
                            {"ts", static_cast<double>(e.start_ns) * 1e-3},
                            {"dur", static_cast<double>(e.duration_ns) * 1e-3}});
    trace_events.push_back({{"name", "host memory"}, {"ph", "C"}, {"pid", 0},
                            {"ts", static_cast<double>(e.start_ns + e.duration_ns) * 1e-3},
                            {"args", {{"MiB in use", static_cast<double>(e.bytes_in_use) / (1 << 20)}}}});
  }
  nlohmann::json ops = nlohmann::json::array();
  for (const OpSummary& s : summary)
    ops.push_back({{"name", s.name}, {"category", s.category}, {"calls", s.calls}, {"total_ms", s.total_ms}});
  const nlohmann::json doc = {
      {"traceEvents", trace_events},
      {"displayTimeUnit", "ms"},
      {"otherData",
       {{"ops", ops},
        {"memory",
         {{"peak_allocated_bytes", memory.peak_allocated_bytes},
          {"reserved_bytes", memory.reserved_bytes},
          {"system_allocations", memory.system_allocations},
          {"cache_hits", memory.cache_hits}}}}}};
  std::ofstream out(path);
  out << doc.dump();
  out.close();
  if (!out) throw IOError(fmt::format("{}: cannot write the profile: {}", path, std::strerror(errno)));

  double total_ms = 0;
  for (const OpSummary& s : summary) total_ms += s.total_ms;
  std::vector<std::string> lines;
  lines.push_back(fmt::format("profile: {} events written to {}; host memory peak {:.1f} MiB, reserved {:.1f} MiB, "
                              "{} system allocations, {} cache hits",
                              all.size(), path, static_cast<double>(memory.peak_allocated_bytes) / (1 << 20),
                              static_cast<double>(memory.reserved_bytes) / (1 << 20), memory.system_allocations,
                              memory.cache_hits));
  for (size_t i = 0; i < summary.size() && i < 15; ++i)
    lines.push_back(fmt::format("profile: {:>9.2f} ms {:5.1f}%  {:>7} calls  {} {}", summary[i].total_ms,
                                total_ms > 0 ? 100 * summary[i].total_ms / total_ms : 0.0, summary[i].calls,
                                summary[i].category, summary[i].name));
  return lines;
}

}  // namespace torus::profile
