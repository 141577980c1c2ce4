// An op-level profiler for training runs: scopes around every op's forward and every
// autograd node's backward record (name, start, duration, thread, host bytes in use),
// written as a Chrome trace (chrome://tracing, Perfetto) with a per-op summary and the
// host allocator's memory figures. Off by default, when a scope costs one relaxed
// atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace torus::profile {

struct Event {
  std::string name;
  const char* category;  // "forward", "backward", "step", ...
  int64_t start_ns;      // since the profiler started
  int64_t duration_ns;
  uint32_t thread;
  uint64_t bytes_in_use;  // host allocator, at the end of the scope
};

// Time spent per (category, name), most expensive first.
struct OpSummary {
  std::string name;
  std::string category;
  int64_t calls = 0;
  double total_ms = 0;
};

namespace detail {
extern std::atomic<bool> enabled;
int64_t now_ns();
void add(std::string name, const char* category, int64_t start_ns);
}  // namespace detail

inline bool enabled() { return detail::enabled.load(std::memory_order_relaxed); }

// Clears earlier events and starts recording.
void start();
void stop();
std::vector<Event> events();
std::vector<OpSummary> summarize(const std::vector<Event>& events);
// Writes the trace (complete events, a host-memory counter track) and, in its
// metadata, the summary and the allocator's peak/reserved bytes. Returns the
// summary as text lines for the run's log.
std::vector<std::string> write_chrome_trace(const std::string& path);

class Scope {
 public:
  Scope(const char* name, const char* category) {
    if (enabled()) begin(name, category);
  }
  Scope(const std::string& name, const char* category) {
    if (enabled()) begin(name, category);
  }
  ~Scope() {
    if (active_) detail::add(std::move(name_), category_, start_ns_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(std::string name, const char* category) {
    name_ = std::move(name);
    category_ = category;
    start_ns_ = detail::now_ns();
    active_ = true;
  }
  bool active_ = false;
  std::string name_;
  const char* category_ = nullptr;
  int64_t start_ns_ = 0;
};

}  // namespace torus::profile

#define TORUS_PROFILE_CONCAT2(a, b) a##b
#define TORUS_PROFILE_CONCAT(a, b) TORUS_PROFILE_CONCAT2(a, b)
// Times the rest of the enclosing block as one op's forward.
#define TORUS_PROFILE_OP(name) \
  ::torus::profile::Scope TORUS_PROFILE_CONCAT(torus_profile_scope_, __LINE__)(name, "forward")
#define TORUS_PROFILE_SCOPE(name, category) \
  ::torus::profile::Scope TORUS_PROFILE_CONCAT(torus_profile_scope_, __LINE__)(name, category)
