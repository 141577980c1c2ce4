// The NCCL bootstrap over MPI (distributed/comm/nccl_bootstrap.h) under mpirun with 2 ranks:
// every rank ends up with rank 0's ncclGetUniqueId bytes; a rank holding a different id is
// named on every rank; a failure to make the id on rank 0 reaches every rank. The
// communicator itself (ncclCommInitRank) needs a GPU per rank and skips without one.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include <nccl.h>

#include "distributed/comm/nccl_bootstrap.h"
#include "distributed/comm/world.h"
#include "kernels/cuda/device_context.h"
#include "support/mpi_test_main.h"

namespace torus::comm {
namespace {

ProcessGroup* g_group = nullptr;
ProcessGroup& group() { return *g_group; }

// Rank r's id as all ranks see it: one all-gather of the 128 bytes.
std::vector<uint8_t> gathered(const NcclUniqueIdBytes& id) {
  Tensor mine = Tensor::zeros({static_cast<int64_t>(id.size())}, DType::u8);
  std::copy(id.begin(), id.end(), mine.data<uint8_t>());
  Tensor all = Tensor::zeros({group().size() * static_cast<int64_t>(id.size())}, DType::u8);
  group().all_gather(mine, all)->wait();
  return all.to_vector<uint8_t>();
}

TEST(NcclBootstrap, EveryRankHoldsRankZerosId) {
  ASSERT_GE(group().size(), 2) << "run under mpirun -np 2";
  const NcclUniqueIdBytes id = bootstrap_nccl_unique_id(group());
  const std::vector<uint8_t> all = gathered(id);
  for (int rank = 1; rank < group().size(); ++rank)
    EXPECT_TRUE(std::equal(all.begin(), all.begin() + kNcclUniqueIdBytes, all.begin() + rank * kNcclUniqueIdBytes))
        << "rank " << rank << " holds another id than rank 0";
  // A real id: not all zeros (ncclGetUniqueId writes the root's bootstrap address).
  EXPECT_NE(std::count(id.begin(), id.end(), 0), static_cast<long>(kNcclUniqueIdBytes));
}

TEST(NcclBootstrap, EachBootstrapMakesAFreshId) {
  const NcclUniqueIdBytes first = bootstrap_nccl_unique_id(group());
  const NcclUniqueIdBytes second = bootstrap_nccl_unique_id(group());
  EXPECT_NE(first, second);
}

TEST(NcclBootstrap, TheIdFromRankZerosFunctionIsTheOneEveryRankGets) {
  const NcclUniqueIdBytes id = exchange_nccl_unique_id(group(), [] {
    EXPECT_EQ(group().rank(), 0) << "make_id runs on rank 0 only";
    NcclUniqueIdBytes made{};
    for (size_t i = 0; i < made.size(); ++i) made[i] = static_cast<uint8_t>(i * 7 + 3);
    return made;
  });
  for (size_t i = 0; i < id.size(); ++i) ASSERT_EQ(id[i], static_cast<uint8_t>(i * 7 + 3)) << "byte " << i;
}

TEST(NcclBootstrap, AMismatchNamesTheRankOnEveryRank) {
  NcclUniqueIdBytes id{};
  id[5] = 42;
  if (group().rank() == 1) id[100] ^= 1;  // rank 1 "received" another id
  try {
    verify_same_nccl_id(group(), id);
    FAIL() << "no error on rank " << group().rank();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("differs from rank 0's"), std::string::npos) << what;
    EXPECT_NE(what.find("on rank(s) 1 ("), std::string::npos) << what;
  }
  EXPECT_NO_THROW(verify_same_nccl_id(group(), NcclUniqueIdBytes{}));
}

TEST(NcclBootstrap, AFailureOnRankZeroReachesEveryRank) {
  try {
    exchange_nccl_unique_id(group(), []() -> NcclUniqueIdBytes { throw Error("no network interface for NCCL"); });
    FAIL() << "no error on rank " << group().rank();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (group().rank() == 0) {
      EXPECT_EQ(what, "no network interface for NCCL");
    } else {
      EXPECT_NE(what.find("rank 0 could not make the NCCL unique id"), std::string::npos) << what;
    }
  }
}

TEST(NcclBootstrap, CommunicatorOnTheGpu) {
  const int devices = cuda::device_count();
  // Every rank decides alike, so that none enters ncclCommInitRank alone.
  Tensor usable = Tensor::from_data<int32_t>({devices > 0 ? 1 : 0}, {1});
  Tensor least = usable.clone();
  group().all_reduce(least)->wait();  // sum: every rank usable iff sum == size
  if (least.to_vector<int32_t>()[0] != group().size())
    GTEST_SKIP() << (devices == 0 ? cuda::why_no_device() : "another rank has no usable CUDA device");
  const int device = group().local_rank() % devices;
  ncclComm* comm = make_nccl_communicator(group(), device);
  int count = 0, rank = -1;
  EXPECT_EQ(ncclCommCount(comm, &count), ncclSuccess);
  EXPECT_EQ(ncclCommUserRank(comm, &rank), ncclSuccess);
  EXPECT_EQ(count, group().size());
  EXPECT_EQ(rank, group().rank());
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
}

}  // namespace
}  // namespace torus::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  torus::comm::ProcessGroupOptions options;
  options.timeout_seconds = 120;
  return torus::test::run_tests_on_every_rank("nccl_bootstrap_test", options, torus::comm::g_group);
}
