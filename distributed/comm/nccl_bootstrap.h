// The NCCL bootstrap over the MPI process group (TORUS_WITH_NCCL): rank 0 makes the NCCL
// unique id, its 128 bytes are broadcast over the host process group, and every rank checks
// it holds rank 0's id before any rank hands it to ncclCommInitRank (a wrong id would make
// the ranks hang in NCCL's own bootstrap instead of failing).
//
// The exchange needs no GPU (ncclGetUniqueId works without one) and is tested under mpirun
// (tests/nccl_bootstrap_test.cpp); make_nccl_communicator needs a GPU per rank.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

#include "distributed/comm/process_group.h"

// ncclComm_t without <nccl.h>: the same type.
struct ncclComm;

namespace torus::comm {

inline constexpr size_t kNcclUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
using NcclUniqueIdBytes = std::array<uint8_t, kNcclUniqueIdBytes>;

// A 64-bit FNV-1a hash of the id: what the ranks compare.
uint64_t nccl_id_checksum(const NcclUniqueIdBytes& id);

// Collective over `group` (every rank calls it): rank 0 calls make_id, the id travels by
// group.broadcast, then verify_same_nccl_id. If make_id throws on rank 0, rank 0 rethrows
// it and every other rank throws an error saying rank 0 failed (nobody waits forever).
NcclUniqueIdBytes exchange_nccl_unique_id(ProcessGroup& group, const std::function<NcclUniqueIdBytes()>& make_id);

// exchange_nccl_unique_id with ncclGetUniqueId.
NcclUniqueIdBytes bootstrap_nccl_unique_id(ProcessGroup& group);

// Collective: all-gathers every rank's checksum of `id` and throws, on every rank alike, an
// Error naming the ranks whose id differs from rank 0's.
void verify_same_nccl_id(ProcessGroup& group, const NcclUniqueIdBytes& id);

// The GPU path: bootstrap_nccl_unique_id, then ncclCommInitRank for this rank on CUDA
// device `device` (made current). Free with ncclCommDestroy (or ncclCommAbort on error).
ncclComm* make_nccl_communicator(ProcessGroup& group, int device);

}  // namespace torus::comm
