// StallInspector: when a collective times out, asks every other rank where it is, so the
// error names the ranks that did not arrive, as Horovod's stall inspector does, but on by
// default and paid for only on failure: nothing is exchanged while collectives complete.
//
// Each rank runs a small responder thread on a communicator of its own (so its messages
// never match a collective's) that checks for a query every few milliseconds and answers
// it from the rank's collective trace: whether that rank has issued the op with the same
// sequence number, as the same op or another, and what its newest op is. The responder
// does not depend on the rank's main thread, so a rank stuck in compute still answers;
// a rank that does not answer at all is dead or its whole process is stuck.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "distributed/comm/mpi_error.h"
#include "distributed/comm/op_trace.h"

namespace torus::comm {

class StallInspector {
 public:
  // How one rank stands towards an op: its record of that sequence number (if it has
  // issued it and still keeps it) and its newest op.
  struct Standing {
    std::optional<OpRecord> op;
    std::optional<OpRecord> newest;
  };
  using Lookup = std::function<Standing(uint64_t sequence)>;

  // Collective over `parent` (it duplicates it); `lookup` is called on the responder thread.
  StallInspector(MPI_Comm parent, Lookup lookup);
  // Stops the responder and frees the communicator: call on every rank, before MPI_Finalize.
  void shut_down();
  // After a timeout the ranks are out of step: stop answering without a collective call.
  void abandon();
  ~StallInspector();
  StallInspector(const StallInspector&) = delete;
  StallInspector& operator=(const StallInspector&) = delete;

  // Asks every other rank about op `sequence` (`op` on this rank) and waits up to
  // `answer_seconds` for the answers. One paragraph naming the ranks that did not arrive;
  // empty if every rank is in the op. Thread-safe; only the first call asks.
  std::string inspect(uint64_t sequence, const std::string& op, double answer_seconds);

 private:
  struct State;
  static void respond(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::thread responder_;
};

}  // namespace torus::comm
