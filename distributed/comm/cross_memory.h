// CrossMemory: reads another process's memory directly (Linux cross-memory attach,
// process_vm_readv), so a large all-reduce on one node moves each byte between ranks once,
// straight from the peer's tensor, instead of staging it through shared memory (Open MPI's
// "single copy"). Ptrace rules or a seccomp profile may forbid it: the constructor tries it
// on every peer of the node, and the ranks of the world agree whether to use it, so every
// rank picks the same protocol.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "distributed/comm/mpi_error.h"

namespace torus::comm {

class CrossMemory {
 public:
  // Collective over `world` (the agreement) and `node` (the ranks to read from).
  CrossMemory(MPI_Comm world, MPI_Comm node) {
    int node_rank = 0, node_size = 1;
    TORUS_MPI(MPI_Comm_rank(node, &node_rank));
    TORUS_MPI(MPI_Comm_size(node, &node_size));
    const long long pid = getpid();
    std::vector<long long> pids(static_cast<size_t>(node_size));
    TORUS_MPI(MPI_Allgather(&pid, 1, MPI_LONG_LONG, pids.data(), 1, MPI_LONG_LONG, node));
    pids_.assign(pids.begin(), pids.end());
    // Each rank reads a known word from each peer.
    probe_ = kProbe + static_cast<uint64_t>(node_rank);
    const auto address = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(&probe_));
    std::vector<unsigned long long> addresses(static_cast<size_t>(node_size));
    TORUS_MPI(MPI_Allgather(&address, 1, MPI_UNSIGNED_LONG_LONG, addresses.data(), 1,
                            MPI_UNSIGNED_LONG_LONG, node));
    int works = 1;
    for (int q = 0; q < node_size; ++q) {
      if (q == node_rank) continue;
      uint64_t word = 0;
      iovec local{&word, sizeof word};
      iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(addresses[static_cast<size_t>(q)])),
                   sizeof word};
      if (process_vm_readv(pids_[static_cast<size_t>(q)], &local, 1, &remote, 1, 0) != sizeof word ||
          word != kProbe + static_cast<uint64_t>(q))
        works = 0;
    }
    // Every rank has probed once all have contributed, so probe_ may go after this.
    int everywhere = 0;
    TORUS_MPI(MPI_Allreduce(&works, &everywhere, 1, MPI_INT, MPI_MIN, world));
    usable_ = everywhere == 1;
  }
  CrossMemory(const CrossMemory&) = delete;
  CrossMemory& operator=(const CrossMemory&) = delete;

  bool usable() const { return usable_; }

  // Copies `bytes` at `from`, an address in local rank `peer`'s process, to `to`.
  void read(int peer, void* to, const void* from, size_t bytes) const {
    auto* out = static_cast<char*>(to);
    auto* in = static_cast<char*>(const_cast<void*>(from));
    while (bytes > 0) {  // the kernel may stop short (at most about 2 GB a call)
      iovec local{out, bytes};
      iovec remote{in, bytes};
      ssize_t n = 0;
      TORUS_CHECK_ERRNO(n = process_vm_readv(pids_[static_cast<size_t>(peer)], &local, 1, &remote, 1, 0));
      if (n == 0) throw IOError("cross-memory read: process_vm_readv copied nothing");
      out += n;
      in += n;
      bytes -= static_cast<size_t>(n);
    }
  }

 private:
  static constexpr uint64_t kProbe = 0x746f727573000000;

  std::vector<pid_t> pids_;  // by local rank
  uint64_t probe_ = 0;
  bool usable_ = false;
};

}  // namespace torus::comm
