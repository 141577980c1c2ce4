// The NCCL unique-id exchange over the host process group (nccl_bootstrap.h).
#include "distributed/comm/nccl_bootstrap.h"

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "kernels/cuda/check.h"

namespace torus::comm {

static_assert(sizeof(ncclUniqueId) == kNcclUniqueIdBytes, "NCCL's unique id is no longer 128 bytes");

namespace {

// The broadcast carries the id and one status byte, so that a failure on rank 0 reaches
// every rank through the same collective.
constexpr uint8_t kIdOk = 1;
constexpr uint8_t kIdFailed = 2;

}  // namespace

uint64_t nccl_id_checksum(const NcclUniqueIdBytes& id) {
  uint64_t hash = 14695981039346656037ull;
  for (uint8_t byte : id) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return hash;
}

NcclUniqueIdBytes exchange_nccl_unique_id(ProcessGroup& group, const std::function<NcclUniqueIdBytes()>& make_id) {
  Tensor message = Tensor::zeros({static_cast<int64_t>(kNcclUniqueIdBytes + 1)}, DType::u8);
  uint8_t* bytes = message.data<uint8_t>();
  std::exception_ptr root_error;
  if (group.rank() == 0) {
    try {
      const NcclUniqueIdBytes id = make_id();
      std::memcpy(bytes, id.data(), kNcclUniqueIdBytes);
      bytes[kNcclUniqueIdBytes] = kIdOk;
    } catch (...) {
      root_error = std::current_exception();
      bytes[kNcclUniqueIdBytes] = kIdFailed;
    }
  }
  group.broadcast(message, 0)->wait();
  if (root_error) std::rethrow_exception(root_error);
  const uint8_t status = bytes[kNcclUniqueIdBytes];
  TORUS_CHECK(status != kIdFailed, "NCCL bootstrap: rank 0 could not make the NCCL unique id (its error is in "
                                   "rank 0's output); rank {} stops here",
              group.rank());
  if (status != kIdOk)
    throw Error(fmt::format("NCCL bootstrap: rank {} received a corrupt message from rank 0 (status byte {})",
                            group.rank(), status));
  NcclUniqueIdBytes id;
  std::memcpy(id.data(), bytes, kNcclUniqueIdBytes);
  verify_same_nccl_id(group, id);
  return id;
}

NcclUniqueIdBytes bootstrap_nccl_unique_id(ProcessGroup& group) {
  return exchange_nccl_unique_id(group, [] {
    ncclUniqueId nccl_id;
    TORUS_NCCL(ncclGetUniqueId(&nccl_id));
    NcclUniqueIdBytes id;
    std::memcpy(id.data(), &nccl_id, kNcclUniqueIdBytes);
    return id;
  });
}

void verify_same_nccl_id(ProcessGroup& group, const NcclUniqueIdBytes& id) {
  const uint64_t own = nccl_id_checksum(id);
  Tensor mine = Tensor::zeros({1}, DType::i64);
  std::memcpy(mine.data<int64_t>(), &own, sizeof own);
  Tensor all = Tensor::zeros({group.size()}, DType::i64);
  group.all_gather(mine, all)->wait();
  std::vector<uint64_t> sums(static_cast<size_t>(group.size()));
  std::memcpy(sums.data(), all.data<int64_t>(), sums.size() * sizeof(uint64_t));
  std::string differing;
  for (size_t rank = 1; rank < sums.size(); ++rank)
    if (sums[rank] != sums[0]) differing += fmt::format("{}{} ({:016x})", differing.empty() ? "" : ", ", rank, sums[rank]);
  if (!differing.empty())
    throw Error(fmt::format("NCCL bootstrap: the NCCL unique id differs from rank 0's (checksum {:016x}) on rank(s) "
                            "{}; the id's broadcast over MPI is broken",
                            sums[0], differing));
}

ncclComm* make_nccl_communicator(ProcessGroup& group, int device) {
  const NcclUniqueIdBytes id = bootstrap_nccl_unique_id(group);
  TORUS_CUDA(cudaSetDevice(device));
  ncclUniqueId nccl_id;
  std::memcpy(&nccl_id, id.data(), kNcclUniqueIdBytes);
  ncclComm_t comm = nullptr;
  TORUS_NCCL(ncclCommInitRank(&comm, group.size(), nccl_id, group.rank()));
  return comm;
}

}  // namespace torus::comm
