// The stall inspector's responder thread, its query after a timeout, and the report.
#include "distributed/comm/stall_inspector.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace torus::comm {

namespace {

constexpr int kQueryTag = 1;
constexpr int kAnswerTag = 2;
constexpr auto kResponderPoll = std::chrono::milliseconds(10);
constexpr auto kAskerPoll = std::chrono::milliseconds(2);
constexpr size_t kListedRanks = 16;  // beyond this, the report counts instead of listing

// One rank's answer on the wire (plain bytes: both ends are the same build).
struct Answer {
  static constexpr int32_t kNone = -1;
  uint64_t newest_sequence = 0;
  int32_t op_state = kNone;  // an OpState, or kNone: no record of the asked sequence
  int32_t newest_state = kNone;
  char op[56] = {};
  char newest_op[56] = {};
};

void copy_name(char (&to)[56], const std::string& from) {
  const size_t n = std::min(from.size(), sizeof to - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

Answer make_answer(const StallInspector::Standing& standing) {
  Answer answer;
  if (standing.op) {
    answer.op_state = static_cast<int32_t>(standing.op->state);
    copy_name(answer.op, standing.op->op);
  }
  if (standing.newest) {
    answer.newest_sequence = standing.newest->sequence;
    answer.newest_state = static_cast<int32_t>(standing.newest->state);
    copy_name(answer.newest_op, standing.newest->op);
  }
  return answer;
}

std::string newest_op_text(const Answer& a) {
  if (a.newest_state == Answer::kNone) return "it has issued no op";
  return fmt::format("its newest op is sequence {}, {}, {}", a.newest_sequence, a.newest_op,
                     op_state_name(static_cast<OpState>(a.newest_state)));
}

// What one answer says about rank `rank` and op `sequence` (`op` here); sets `arrived`.
std::string describe(int rank, const Answer& a, uint64_t sequence, const std::string& op,
                     bool& arrived) {
  arrived = false;
  if (a.op_state == Answer::kNone) {
    if (a.newest_state == Answer::kNone || a.newest_sequence < sequence)
      return fmt::format("rank {} has not issued it ({})", rank, newest_op_text(a));
    return fmt::format("rank {} no longer keeps sequence {} in its trace ({})", rank, sequence,
                       newest_op_text(a));
  }
  if (op != a.op)
    return fmt::format("rank {} issued sequence {} as {}, not {}: the ranks issue different ops",
                       rank, sequence, a.op, op);
  switch (static_cast<OpState>(a.op_state)) {
    case OpState::queued:
      return fmt::format("rank {} has it queued behind an earlier op that has not completed there "
                         "({})", rank, newest_op_text(a));
    case OpState::running: arrived = true; return fmt::format("rank {} is in it", rank);
    case OpState::timed_out: arrived = true; return fmt::format("rank {} timed out in it", rank);
    case OpState::done: arrived = true; return fmt::format("rank {} has completed it", rank);
    case OpState::failed: return fmt::format("rank {} failed in it", rank);
  }
  return fmt::format("rank {} sent a corrupt answer", rank);
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string text;
  for (size_t i = 0; i < ranks.size() && i < kListedRanks; ++i)
    text += fmt::format("{}{}", i == 0 ? "" : ", ", ranks[i]);
  if (ranks.size() > kListedRanks) text += fmt::format(" and {} more", ranks.size() - kListedRanks);
  return text;
}

}  // namespace

struct StallInspector::State {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  Lookup lookup;
  std::atomic<bool> stopping{false};

  std::mutex inspect_mutex;
  bool inspected = false;
  uint64_t inspected_sequence = 0;
  std::string report;
  // An inquiry's buffers stay alive with the state: requests to ranks that never answer
  // are left pending (the job is ending), and MPI may still write into them.
  std::vector<Answer> answers;
  std::vector<uint64_t> queries;
  std::vector<MPI_Request> requests;
};

StallInspector::StallInspector(MPI_Comm parent, Lookup lookup) : state_(std::make_shared<State>()) {
  state_->lookup = std::move(lookup);
  TORUS_MPI(MPI_Comm_dup(parent, &state_->comm));
  TORUS_MPI(MPI_Comm_set_errhandler(state_->comm, MPI_ERRORS_RETURN));
  TORUS_MPI(MPI_Comm_rank(state_->comm, &state_->rank));
  TORUS_MPI(MPI_Comm_size(state_->comm, &state_->size));
  responder_ = std::thread([state = state_] { respond(state); });
}

void StallInspector::respond(const std::shared_ptr<State>& state) {
  while (!state->stopping) {
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kQueryTag, state->comm, &flag, &status) != MPI_SUCCESS) return;
    if (flag == 0) {
      std::this_thread::sleep_for(kResponderPoll);
      continue;
    }
    uint64_t sequence = 0;
    if (MPI_Recv(&sequence, 1, MPI_UINT64_T, status.MPI_SOURCE, kQueryTag, state->comm,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return;
    // Small enough to be sent eagerly: returns at once even if the asker is gone.
    Answer answer = make_answer(state->lookup(sequence));
    if (MPI_Send(&answer, sizeof answer, MPI_BYTE, status.MPI_SOURCE, kAnswerTag, state->comm) !=
        MPI_SUCCESS)
      return;  // the asker died; the job is ending
  }
}

void StallInspector::abandon() {
  state_->stopping = true;
  if (responder_.joinable()) responder_.join();  // it never blocks for long
}

void StallInspector::shut_down() {
  abandon();
  if (state_->comm != MPI_COMM_NULL) TORUS_MPI(MPI_Comm_free(&state_->comm));
}

StallInspector::~StallInspector() { abandon(); }

std::string StallInspector::inspect(uint64_t sequence, const std::string& op,
                                    double answer_seconds) {
  State& s = *state_;
  std::lock_guard lock(s.inspect_mutex);
  if (s.inspected) return s.inspected_sequence == sequence ? s.report : std::string();
  s.inspected = true;
  s.inspected_sequence = sequence;
  if (s.comm == MPI_COMM_NULL || s.size == 1) return s.report;

  const size_t n = static_cast<size_t>(s.size);
  s.answers.assign(n, Answer{});
  s.queries.assign(n, sequence);
  s.requests.assign(2 * n, MPI_REQUEST_NULL);  // [answer from p, query to p]
  std::vector<std::string> unreachable(n);
  for (int p = 0; p < s.size; ++p) {
    if (p == s.rank) continue;
    const size_t i = static_cast<size_t>(p);
    const int received = MPI_Irecv(&s.answers[i], sizeof(Answer), MPI_BYTE, p, kAnswerTag, s.comm,
                                   &s.requests[i]);
    const int sent = received == MPI_SUCCESS
                         ? MPI_Isend(&s.queries[i], 1, MPI_UINT64_T, p, kQueryTag, s.comm,
                                     &s.requests[n + i])
                         : received;
    if (sent != MPI_SUCCESS) unreachable[i] = mpi_error_string(sent);
  }

  std::vector<bool> answered(n, false);
  answered[static_cast<size_t>(s.rank)] = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(answer_seconds);
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < n; ++i) {
      if (answered[i] || !unreachable[i].empty()) continue;
      int done = 0;
      const int code = MPI_Test(&s.requests[i], &done, MPI_STATUS_IGNORE);
      if (code != MPI_SUCCESS) unreachable[i] = mpi_error_string(code);
      else if (done != 0) answered[i] = true;
      else all = false;
    }
    if (all || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kAskerPoll);
  }

  std::vector<std::string> lines;
  std::vector<int> missing, in_op, silent;
  for (int p = 0; p < s.size; ++p) {
    if (p == s.rank) continue;
    const size_t i = static_cast<size_t>(p);
    if (!unreachable[i].empty()) {
      silent.push_back(p);
      lines.push_back(fmt::format("rank {} could not be asked ({})", p, unreachable[i]));
    } else if (!answered[i]) {
      silent.push_back(p);
    } else {
      bool arrived = false;
      std::string line = describe(p, s.answers[i], sequence, op, arrived);
      if (arrived) {
        in_op.push_back(p);
      } else {
        missing.push_back(p);
        lines.push_back(std::move(line));
      }
    }
  }
  if (!silent.empty())
    lines.push_back(fmt::format("rank{} {} did not answer within {:g} s (dead, or the whole "
                                "process is stuck)", silent.size() > 1 ? "s" : "",
                                rank_list(silent), answer_seconds));
  if (!in_op.empty())
    lines.push_back(fmt::format("rank{} {} {} in it", in_op.size() > 1 ? "s" : "",
                                rank_list(in_op), in_op.size() > 1 ? "are" : "is"));
  std::vector<int> absent = missing;
  absent.insert(absent.end(), silent.begin(), silent.end());
  std::sort(absent.begin(), absent.end());
  if (lines.size() > kListedRanks + 2) {
    const size_t dropped = lines.size() - kListedRanks;
    lines.resize(kListedRanks);
    lines.push_back(fmt::format("{} more", dropped));
  }
  s.report = absent.empty()
                 ? "every other rank is in it too, so MPI itself is slow or stuck (the network?)"
                 : fmt::format("ranks that did not arrive: {}", rank_list(absent));
  s.report += fmt::format(" (asked at the timeout: {})", fmt::join(lines, "; "));
  return s.report;
}

}  // namespace torus::comm
