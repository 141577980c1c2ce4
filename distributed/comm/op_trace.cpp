// The ring of recent collectives and its text form.
#include "distributed/comm/op_trace.h"

#include <fmt/format.h>

#include <utility>

namespace torus::comm {

const char* op_state_name(OpState state) {
  switch (state) {
    case OpState::queued: return "queued";
    case OpState::running: return "running";
    case OpState::done: return "done";
    case OpState::failed: return "failed";
    case OpState::timed_out: return "timed out";
  }
  return "?";
}

OpTrace::OpTrace(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

double OpTrace::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - origin_).count();
}

void OpTrace::add(uint64_t sequence, std::string op, std::string dtype, size_t bytes) {
  OpRecord record;
  record.sequence = sequence;
  record.op = std::move(op);
  record.dtype = std::move(dtype);
  record.bytes = bytes;
  record.queued_s = now();
  std::lock_guard lock(mutex_);
  if (records_.size() == capacity_) records_.pop_front();
  records_.push_back(std::move(record));
  ++total_ops_;
}

OpRecord* OpTrace::find(uint64_t sequence) {
  return const_cast<OpRecord*>(std::as_const(*this).find(sequence));
}

const OpRecord* OpTrace::find(uint64_t sequence) const {
  // Sequences are added in increasing order, so the record (if kept) is at a known offset.
  if (records_.empty() || sequence < records_.front().sequence) return nullptr;
  const uint64_t index = sequence - records_.front().sequence;
  if (index >= records_.size() || records_[index].sequence != sequence) return nullptr;
  return &records_[index];
}

void OpTrace::set_state(uint64_t sequence, OpState state) {
  const double t = now();
  std::lock_guard lock(mutex_);
  OpRecord* record = find(sequence);
  if (record == nullptr) return;
  record->state = state;
  if (state == OpState::running) {
    record->started_s = t;
  } else if (state == OpState::done || state == OpState::failed) {
    record->ended_s = t;
  }
}

std::vector<OpRecord> OpTrace::records() const {
  std::lock_guard lock(mutex_);
  return {records_.begin(), records_.end()};
}

std::optional<OpRecord> OpTrace::record(uint64_t sequence) const {
  std::lock_guard lock(mutex_);
  const OpRecord* found = find(sequence);
  if (found == nullptr) return std::nullopt;
  return *found;
}

std::optional<OpRecord> OpTrace::newest() const {
  std::lock_guard lock(mutex_);
  if (records_.empty()) return std::nullopt;
  return records_.back();
}

uint64_t OpTrace::total_ops() const {
  std::lock_guard lock(mutex_);
  return total_ops_;
}

std::string OpTrace::format(const std::string& title) const {
  const std::vector<OpRecord> kept = records();
  const uint64_t total = total_ops();
  auto seconds = [](double s) { return s < 0 ? std::string("-") : fmt::format("{:.3f}s", s); };
  std::string text = fmt::format("{} (last {} of {} ops; times since the group started)\n",
                                 title, kept.size(), total);
  text += fmt::format("  {:>6}  {:<24} {:<5} {:>12}  {:>10} {:>10} {:>10}  {}\n", "seq", "op",
                      "dtype", "bytes", "queued", "started", "ended", "state");
  for (const OpRecord& r : kept) {
    text += fmt::format("  {:>6}  {:<24} {:<5} {:>12}  {:>10} {:>10} {:>10}  {}\n", r.sequence,
                        r.op, r.dtype.empty() ? "-" : r.dtype, r.bytes, seconds(r.queued_s),
                        seconds(r.started_s), seconds(r.ended_s), op_state_name(r.state));
  }
  return text;
}

}  // namespace torus::comm
