// OpTrace: the last N collectives of a process group (op, sequence number, bytes, when it
// was queued, started and ended, and how it ended), formatted for error messages, so a
// hang or a failure shows where every rank was.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace torus::comm {

enum class OpState { queued, running, done, failed, timed_out };
const char* op_state_name(OpState state);

struct OpRecord {
  uint64_t sequence = 0;
  std::string op;      // "all_reduce(sum)", "broadcast(root 1)", ...
  std::string dtype;   // empty for barrier
  size_t bytes = 0;
  double queued_s = 0;    // seconds since the trace was made
  double started_s = -1;  // -1: not yet
  double ended_s = -1;
  OpState state = OpState::queued;
};

// Thread-safe: callers add and update records while the communication thread runs them.
class OpTrace {
 public:
  explicit OpTrace(size_t capacity);

  // Seconds since this trace was made.
  double now() const;
  // Adds a queued op; the oldest record is dropped beyond the capacity.
  void add(uint64_t sequence, std::string op, std::string dtype, size_t bytes);
  // Moves an op to `state`, stamping its start (running) or end (done, failed) time.
  // An op already dropped from the trace is ignored.
  void set_state(uint64_t sequence, OpState state);

  std::vector<OpRecord> records() const;
  // The record of `sequence`, or of the newest op; nullopt if it is not (or no longer) kept.
  std::optional<OpRecord> record(uint64_t sequence) const;
  std::optional<OpRecord> newest() const;
  uint64_t total_ops() const;
  // A table of the records under `title`, oldest first.
  std::string format(const std::string& title) const;

 private:
  OpRecord* find(uint64_t sequence);
  const OpRecord* find(uint64_t sequence) const;

  const size_t capacity_;
  const std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;
  std::deque<OpRecord> records_;
  uint64_t total_ops_ = 0;
};

}  // namespace torus::comm
