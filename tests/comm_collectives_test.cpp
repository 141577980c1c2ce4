// The MPI process group under mpirun (2, 3 and 4 ranks): every collective against a
// closed-form, rank-dependent reference, for odd sizes, empty tensors and each dtype;
// async handles waited out of order; broadcast from a non-zero root; reduce_scatter then
// all_gather equal to all_reduce. Values are small integers (and halves), so f32, f64
// and bf16 results are exact whatever order MPI sums in.
// Small ops on one node run on the caller's thread when nothing is queued: they are checked
// there, behind a busy thread, mixed with large ones, and for the same bits either way.
// Options choose the all-reduce path (CMake runs several): --shm-min-bytes N (0: every
// all-reduce through shared memory), --shm-chunk-bytes N (small: many rounds, odd
// portions), --ranks-per-node N (emulated nodes: the between-node path), --no-shm,
// --shm-inline-max-bytes N (0: small ops to MPI on the communication thread),
// --single-copy-min-bytes N, --single-copy-max-bytes N (0 and a large N: every
// shared-memory all-reduce reads the peers' tensors directly, where the kernel allows),
// --no-single-copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "distributed/comm/mpi_process_group.h"
#include "distributed/comm/world.h"
#include "support/mpi_test_main.h"

namespace torus::comm {
namespace {

ProcessGroup* g_group = nullptr;
ProcessGroupOptions g_options;

ProcessGroup& group() { return *g_group; }

// Rank r's contribution at element i: r + 1 + (i mod 13).
double contribution(int rank, int64_t i) { return rank + 1 + static_cast<double>(i % 13); }

// The sum of contribution(r, i) over the ranks: S(S+1)/2 + S (i mod 13).
double sum_over_ranks(int size, int64_t i) {
  return size * (size + 1) / 2.0 + size * static_cast<double>(i % 13);
}

Tensor filled(int64_t n, DType dtype, const std::function<double(int64_t)>& value) {
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = value(i);
  return Tensor::from_vector(values, {n}, dtype);
}

// Counts mismatches (and reports the first few) so one bad tensor does not flood the log.
void expect_values(const Tensor& t, const std::function<double(int64_t)>& expected,
                   const std::string& what) {
  const std::vector<double> got = t.to_vector<double>();
  int64_t wrong = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(got.size()); ++i) {
    if (got[static_cast<size_t>(i)] != expected(i)) {
      if (wrong < 3)
        ADD_FAILURE() << what << " on rank " << group().rank() << ": element " << i << " is "
                      << got[static_cast<size_t>(i)] << ", expected " << expected(i);
      ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0) << what << " on rank " << group().rank();
}

const std::vector<DType> kFloatTypes = {DType::f32, DType::f64, DType::bf16};
const std::vector<DType> kReducibleTypes = {DType::f32, DType::f64, DType::bf16, DType::i32,
                                            DType::i64};
const std::vector<int64_t> kSizes = {0, 1, 7, 1000003};

bool one_node() { return g_options.shm_ranks_per_node == 0 || g_options.shm_ranks_per_node >= g_group->size(); }

// Shared memory is used where some (emulated) node holds two ranks.
bool shm_on() { return g_options.shared_memory && g_options.shm_ranks_per_node != 1 && g_group->size() > 1; }

// Whether a reduction of `bytes` takes the shared-memory path (MpiProcessGroup's rule).
bool through_shm(size_t bytes, bool reduce_scatter) {
  if (!shm_on() || (reduce_scatter && !one_node())) return false;
  return bytes >= g_options.shm_min_bytes || (one_node() && bytes <= g_options.shm_inline_max_bytes);
}

bool runs_inline(size_t bytes) { return shm_on() && one_node() && bytes <= g_options.shm_inline_max_bytes; }

MpiProcessGroup& mpi_group() {
  auto* mpi = dynamic_cast<MpiProcessGroup*>(g_group);
  if (mpi == nullptr) throw Error("comm_collectives_test: the group is not MPI's");
  return *mpi;
}

TEST(MpiProcessGroup, WorldMatchesTheLauncher) {
  EXPECT_EQ(group().backend_name(), "mpi");
  std::optional<WorldInfo> env = world_from_environment();
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(group().rank(), env->rank);
  EXPECT_EQ(group().size(), env->size);
  EXPECT_EQ(group().local_rank(), env->local_rank);
  EXPECT_EQ(group().local_size(), env->local_size);
  EXPECT_FALSE(group().host_name().empty());
}

TEST(MpiProcessGroup, AllReduceSum) {
  const int rank = group().rank(), size = group().size();
  std::vector<int64_t> sizes = kSizes;
  sizes.push_back(MpiProcessGroup::kBf16ChunkElements + 5);  // bf16 crosses a scratch chunk
  for (DType dtype : kReducibleTypes) {
    for (int64_t n : sizes) {
      Tensor t = filled(n, dtype, [&](int64_t i) { return contribution(rank, i); });
      group().all_reduce(t, ReduceOp::sum)->wait();
      expect_values(t, [&](int64_t i) { return sum_over_ranks(size, i); },
                    fmt::format("all_reduce(sum) {} n={}", dtype_name(dtype), n));
    }
  }
}

TEST(MpiProcessGroup, AllReduceAverageDividesOnce) {
  const int rank = group().rank(), size = group().size();
  for (DType dtype : kFloatTypes) {
    for (int64_t n : kSizes) {
      // Ranks give S * (r + 1 + i mod 13), so the mean is sum_over_ranks: exact in every dtype.
      Tensor t = filled(n, dtype, [&](int64_t i) { return size * contribution(rank, i); });
      group().all_reduce(t, ReduceOp::average)->wait();
      expect_values(t, [&](int64_t i) { return sum_over_ranks(size, i); },
                    fmt::format("all_reduce(average) {} n={}", dtype_name(dtype), n));
    }
  }
  // A mean that is not a multiple: ranks give r + 1, the mean is (S + 1) / 2.
  Tensor halves = filled(5, DType::f32, [&](int64_t) { return rank + 1.0; });
  group().all_reduce(halves, ReduceOp::average)->wait();
  expect_values(halves, [&](int64_t) { return (size + 1) / 2.0; }, "all_reduce(average) halves");
}

TEST(MpiProcessGroup, OpsAtLeastTheThresholdGoThroughSharedMemory) {
  auto* mpi = dynamic_cast<MpiProcessGroup*>(&group());
  ASSERT_NE(mpi, nullptr);
  const int64_t before = mpi->shm_ops();
  const int64_t n = static_cast<int64_t>(std::max<size_t>(g_options.shm_min_bytes, 4) / 4);
  Tensor large = Tensor::ones({n});
  group().all_reduce(large)->wait();
  Tensor small = Tensor::ones({std::max<int64_t>(n / 2 - 1, 1)});
  group().all_reduce(small)->wait();
  const int64_t expected = through_shm(large.nbytes(), false) + through_shm(small.nbytes(), false);
  EXPECT_EQ(mpi->shm_ops() - before, expected);
  expect_values(large, [&](int64_t) { return group().size(); }, "all_reduce at the threshold");
  expect_values(small, [&](int64_t) { return group().size(); }, "all_reduce below the threshold");
  // A reduce-scatter of that size goes there too, when every rank is on one node.
  const int size = group().size();
  const int64_t per_rank = std::max<int64_t>(n / size + 1, 1);
  Tensor input = Tensor::ones({per_rank * size}), output = Tensor::zeros({per_rank});
  const int64_t before_scatter = mpi->shm_ops();
  group().reduce_scatter(input, output)->wait();
  EXPECT_EQ(mpi->shm_ops() - before_scatter, through_shm(input.nbytes(), true) ? 1 : 0);
  expect_values(output, [&](int64_t) { return size; }, "reduce_scatter at the threshold");
}

TEST(MpiProcessGroup, SmallOpsRunOnTheCallersThreadWhenNothingIsQueued) {
  const size_t limit = g_options.shm_inline_max_bytes;
  if (!runs_inline(0)) GTEST_SKIP() << "small ops do not run inline in this configuration";
  const int rank = group().rank(), size = group().size();
  group().barrier()->wait();  // the thread is idle from here on
  for (DType dtype : kReducibleTypes) {
    const auto at_limit = static_cast<int64_t>(limit / dtype_size(dtype));
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1001}, at_limit, at_limit + 1}) {
      Tensor t = filled(n, dtype, [&](int64_t i) { return contribution(rank, i); });
      const int64_t before = mpi_group().inline_ops();
      WorkPtr work = group().all_reduce(t);
      const bool expect_inline = runs_inline(t.nbytes());
      EXPECT_EQ(mpi_group().inline_ops() - before, expect_inline ? 1 : 0) << dtype_name(dtype) << " n=" << n;
      if (expect_inline) {
        EXPECT_TRUE(work->is_completed());  // done before the call returned
      }
      work->wait();
      expect_values(t, [&](int64_t i) { return sum_over_ranks(size, i); },
                    fmt::format("inline all_reduce {} n={}", dtype_name(dtype), n));
    }
    const int64_t per_rank = std::max<int64_t>(at_limit / size, 1);
    Tensor input = filled(size * per_rank, dtype, [&](int64_t j) { return contribution(rank, j); });
    Tensor output = Tensor::zeros({per_rank}, dtype);
    const int64_t before = mpi_group().inline_ops();
    group().reduce_scatter(input, output)->wait();
    EXPECT_EQ(mpi_group().inline_ops() - before, runs_inline(input.nbytes()) ? 1 : 0) << dtype_name(dtype);
    expect_values(output, [&](int64_t i) { return sum_over_ranks(size, rank * per_rank + i); },
                  fmt::format("inline reduce_scatter {}", dtype_name(dtype)));
  }
  // The average divides once, inline too.
  Tensor halves = filled(5, DType::f32, [&](int64_t) { return rank + 1.0; });
  group().all_reduce(halves, ReduceOp::average)->wait();
  expect_values(halves, [&](int64_t) { return (size + 1) / 2.0; }, "inline all_reduce(average)");
}

TEST(MpiProcessGroup, SingleCopyIsOnWhereAskedForAndAllowed) {
  const bool asked = shm_on() && g_options.shm_single_copy && one_node();
  if (!asked) {
    EXPECT_FALSE(mpi_group().shm_single_copy());
    GTEST_SKIP() << "single copy is not asked for in this configuration";
  }
  // The kernel may forbid reading another process (ptrace rules, seccomp); then every rank
  // falls back to the rounds, and this run tests those instead.
  if (!mpi_group().shm_single_copy()) GTEST_SKIP() << "process_vm_readv is not allowed between the ranks here";
  const int rank = group().rank(), size = group().size();
  const auto n = static_cast<int64_t>(g_options.shm_single_copy_min_bytes / 4 + 3);
  Tensor t = filled(n, DType::f32, [&](int64_t i) { return contribution(rank, i); });
  const int64_t before = mpi_group().shm_ops();
  group().all_reduce(t)->wait();
  EXPECT_EQ(mpi_group().shm_ops() - before, 1);
  expect_values(t, [&](int64_t i) { return sum_over_ranks(size, i); }, "single-copy all_reduce");
}

TEST(MpiProcessGroup, SmallOpsBehindABusyThreadAreQueuedInIssueOrder) {
  const int rank = group().rank(), size = group().size();
  const int last = size - 1;
  // The last rank issues a large op that cannot end before rank 0 joins it, 50 ms later,
  // so the last rank's small ops behind it must queue; every rank then mixes small and
  // large ops, odd sizes and every dtype, all in flight at once.
  std::vector<Tensor> tensors;
  std::vector<WorkPtr> works;
  std::vector<int64_t> offsets;
  auto issue = [&](int64_t n, DType dtype, int64_t offset) {
    tensors.push_back(filled(n, dtype, [&](int64_t i) { return contribution(rank, i + offset); }));
    offsets.push_back(offset);
    works.push_back(group().all_reduce(tensors.back()));
  };
  if (rank == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int64_t before = mpi_group().inline_ops();
  issue(1000003, DType::f32, 0);
  int64_t k = 1;
  for (DType dtype : kReducibleTypes)
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1001}}) issue(n, dtype, k++);
  if (rank == last) {
    EXPECT_EQ(mpi_group().inline_ops() - before, 0) << "ops ran inline behind a busy thread";
  }
  issue(100003, DType::f64, k++);
  issue(3, DType::bf16, k++);
  issue(0, DType::i64, k++);
  for (size_t j = 1; j < works.size(); ++j) EXPECT_EQ(works[j]->sequence(), works[j - 1]->sequence() + 1);
  for (size_t j = works.size(); j-- > 0;) works[j]->wait();
  for (size_t j = 0; j < tensors.size(); ++j)
    expect_values(tensors[j], [&](int64_t i) { return sum_over_ranks(size, i + offsets[j]); },
                  fmt::format("mixed all_reduce {} ({} n={})", j, dtype_name(tensors[j].dtype()),
                              tensors[j].numel()));
  // Waited one at a time, the small ones run inline again, mixed with large ones.
  for (int64_t n : {int64_t{1001}, int64_t{1000003}, int64_t{7}, int64_t{100003}, int64_t{1}}) {
    Tensor t = filled(n, DType::f32, [&](int64_t i) { return contribution(rank, i); });
    group().all_reduce(t)->wait();
    expect_values(t, [&](int64_t i) { return sum_over_ranks(size, i); }, fmt::format("one at a time n={}", n));
  }
  EXPECT_EQ(group().trace().find("running"), std::string::npos) << group().trace();
}

TEST(MpiProcessGroup, TheBitsDoNotDependOnWhereAnOpRuns) {
  const int rank = group().rank(), size = group().size();
  const int64_t n = 1001;
  // Values whose sum rounds differently in another order (exact sums would hide that).
  auto value = [&](int64_t j) {
    return std::sin(0.37 * static_cast<double>(j) + rank) * std::exp2(static_cast<double>((j + rank) % 23 - 11));
  };
  for (DType dtype : kFloatTypes) {
    Tensor idle = filled(size * n, dtype, value);
    group().all_reduce(idle)->wait();  // inline where small ops run inline
    Tensor busy = filled(size * n, dtype, value);
    Tensor large = Tensor::ones({1000003});
    WorkPtr first = group().all_reduce(large);
    WorkPtr second = group().all_reduce(busy);  // queued behind the large op
    Tensor shard = Tensor::zeros({n}, dtype), gathered = Tensor::zeros({size * n}, dtype);
    WorkPtr scatter = group().reduce_scatter(filled(size * n, dtype, value), shard);
    WorkPtr gather = group().all_gather(shard, gathered);
    first->wait();
    second->wait();
    scatter->wait();
    gather->wait();
    EXPECT_EQ(busy.to_vector<double>(), idle.to_vector<double>()) << dtype_name(dtype);
    // Rank-order sums agree across the two ops (two ranks' sums have one order anyway).
    if (size == 2 || (through_shm(idle.nbytes(), false) && through_shm(idle.nbytes(), true))) {
      EXPECT_EQ(gathered.to_vector<double>(), idle.to_vector<double>()) << dtype_name(dtype);
    }
  }
}

TEST(MpiProcessGroup, BroadcastFromEveryRoot) {
  const int rank = group().rank(), size = group().size();
  for (int root = size - 1; root >= 0; --root) {  // the non-zero roots first
    for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::i64, DType::u8}) {
      for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000003}}) {
        Tensor t = filled(n, dtype, [&](int64_t i) { return rank * 10 + static_cast<double>(i % 7); });
        group().broadcast(t, root)->wait();
        expect_values(t, [&](int64_t i) { return root * 10 + static_cast<double>(i % 7); },
                      fmt::format("broadcast(root {}) {} n={}", root, dtype_name(dtype), n));
      }
    }
  }
}

TEST(MpiProcessGroup, ReduceScatterGivesEachRankItsChunkOfTheSum) {
  const int rank = group().rank(), size = group().size();
  for (DType dtype : kReducibleTypes) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{100003}}) {
      Tensor input = filled(size * n, dtype, [&](int64_t j) { return contribution(rank, j); });
      const std::vector<double> input_before = input.to_vector<double>();
      Tensor output = Tensor::zeros({n}, dtype);
      group().reduce_scatter(input, output, ReduceOp::sum)->wait();
      expect_values(output, [&](int64_t i) { return sum_over_ranks(size, rank * n + i); },
                    fmt::format("reduce_scatter {} n={}", dtype_name(dtype), n));
      EXPECT_EQ(input.to_vector<double>(), input_before) << "reduce_scatter changed its input";
    }
  }
}

TEST(MpiProcessGroup, AllGatherConcatenatesInRankOrder) {
  const int rank = group().rank(), size = group().size();
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::u8}) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{100003}}) {
      Tensor input = filled(n, dtype, [&](int64_t i) { return rank * 20 + static_cast<double>(i % 11); });
      Tensor output = Tensor::zeros({size * n}, dtype);
      group().all_gather(input, output)->wait();
      expect_values(output,
                    [&](int64_t j) { return (j / n) * 20 + static_cast<double>((j % n) % 11); },
                    fmt::format("all_gather {} n={}", dtype_name(dtype), n));
    }
  }
}

TEST(MpiProcessGroup, ReduceScatterThenAllGatherIsAllReduce) {
  const int rank = group().rank(), size = group().size();
  const int64_t n = 1001;
  for (DType dtype : kFloatTypes) {
    auto value = [&](int64_t j) { return size * contribution(rank, j); };
    Tensor reference = filled(size * n, dtype, value);
    Tensor shard = Tensor::zeros({n}, dtype);
    Tensor gathered = Tensor::zeros({size * n}, dtype);
    WorkPtr scatter = group().reduce_scatter(reference.clone(), shard, ReduceOp::average);
    WorkPtr gather = group().all_gather(shard, gathered);  // queued behind the scatter
    WorkPtr reduce = group().all_reduce(reference, ReduceOp::average);
    scatter->wait();
    gather->wait();
    reduce->wait();
    EXPECT_EQ(gathered.to_vector<double>(), reference.to_vector<double>()) << dtype_name(dtype);
  }
}

TEST(MpiProcessGroup, AsyncOpsCompleteInIssueOrderWhateverOrderTheyAreWaited) {
  const int rank = group().rank(), size = group().size();
  Tensor a = filled(1000003, DType::f32, [&](int64_t i) { return contribution(rank, i); });
  Tensor b = filled(7, DType::f64, [&](int64_t i) { return contribution(rank, i + 5); });
  WorkPtr first = group().all_reduce(a);
  WorkPtr second = group().all_reduce(b);
  EXPECT_EQ(second->sequence(), first->sequence() + 1);
  second->wait();  // reverse order
  first->wait();   // ops run in issue order, so the first is done once the second is
  EXPECT_TRUE(first->is_completed());
  EXPECT_TRUE(second->is_completed());
  expect_values(a, [&](int64_t i) { return sum_over_ranks(size, i); }, "first all_reduce");
  expect_values(b, [&](int64_t i) { return sum_over_ranks(size, i + 5); }, "second all_reduce");

  // Many small ops in flight at once, waited last to first.
  std::vector<Tensor> tensors;
  std::vector<WorkPtr> works;
  for (int k = 0; k < 32; ++k) {
    tensors.push_back(filled(k, k % 2 ? DType::bf16 : DType::i64,
                             [&](int64_t i) { return contribution(rank, i + k); }));
    works.push_back(group().all_reduce(tensors.back()));
  }
  for (int k = 31; k >= 0; --k) works[static_cast<size_t>(k)]->wait();
  for (int k = 0; k < 32; ++k)
    expect_values(tensors[static_cast<size_t>(k)],
                  [&](int64_t i) { return sum_over_ranks(size, i + k); },
                  fmt::format("queued all_reduce {}", k));
}

TEST(MpiProcessGroup, SequenceNumbersAgreeAcrossRanksAndAreTraced) {
  const int size = group().size();
  group().barrier()->wait();
  const uint64_t sequence = group().next_sequence();
  Tensor t = Tensor::from_data<int64_t>({static_cast<int64_t>(sequence)}, {1});
  WorkPtr work = group().all_reduce(t);
  work->wait();
  EXPECT_EQ(work->sequence(), sequence);
  EXPECT_EQ(t.to_vector<int64_t>()[0], static_cast<int64_t>(sequence) * size);
  const std::string trace = group().trace();
  EXPECT_NE(trace.find(fmt::format("collective trace of rank {} of {}", group().rank(), size)),
            std::string::npos) << trace;
  EXPECT_NE(trace.find("barrier"), std::string::npos) << trace;
  EXPECT_NE(trace.find(fmt::format("{}  all_reduce(sum)", sequence)), std::string::npos) << trace;
  EXPECT_EQ(trace.find("running"), std::string::npos) << trace;  // everything waited is done
}

TEST(MpiProcessGroup, RefusesBadArgumentsBeforeQueueing) {
  const int size = group().size();
  const uint64_t before = group().next_sequence();
  Tensor small = Tensor::zeros({3});
  EXPECT_THROW(group().all_gather(small, Tensor::zeros({3 * size + 1})), ValueError);
  EXPECT_THROW(group().reduce_scatter(Tensor::zeros({3 * size - 1}), small), ValueError);
  EXPECT_THROW(group().broadcast(small, size), ValueError);
  EXPECT_THROW(group().all_reduce(Tensor::zeros({3}, DType::i32), ReduceOp::average), ValueError);
  EXPECT_EQ(group().next_sequence(), before);  // nothing queued, the ranks stay in step
}

TEST(MpiProcessGroup, MpiErrorsNameTheCallAndMpisDescription) {
  // A real failing call: MPI checks the count before any communication, on each rank alone.
  MPI_Errhandler previous;
  TORUS_MPI(MPI_Comm_get_errhandler(MPI_COMM_WORLD, &previous));
  TORUS_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  float value = 0;
  std::string message;
  int code = MPI_SUCCESS;
  try {
    TORUS_MPI(MPI_Bcast(&value, -1, MPI_FLOAT, 0, MPI_COMM_WORLD));
  } catch (const MpiError& e) {
    message = e.what();
    code = e.mpi_code();
  }
  TORUS_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, previous));
  TORUS_MPI(MPI_Errhandler_free(&previous));
  int error_class = MPI_SUCCESS;
  TORUS_MPI(MPI_Error_class(code, &error_class));
  EXPECT_EQ(error_class, MPI_ERR_COUNT) << message;
  EXPECT_NE(message.find("MPI_Bcast(&value, -1, MPI_FLOAT, 0, MPI_COMM_WORLD) failed: "),
            std::string::npos) << message;
  EXPECT_NE(message.find(mpi_error_string(code)), std::string::npos) << message;
  EXPECT_NE(message.find("invalid count"), std::string::npos) << message;
  EXPECT_NE(message.find("comm_collectives_test.cpp:"), std::string::npos) << message;
}

}  // namespace
}  // namespace torus::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  torus::comm::ProcessGroupOptions& options = torus::comm::g_options;
  options.timeout_seconds = 120;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--no-shm") options.shared_memory = false;
    else if (arg == "--shm-min-bytes" && has_value) options.shm_min_bytes = std::stoul(argv[++i]);
    else if (arg == "--shm-chunk-bytes" && has_value) options.shm_chunk_bytes = std::stoul(argv[++i]);
    else if (arg == "--ranks-per-node" && has_value) options.shm_ranks_per_node = std::stoi(argv[++i]);
    else if (arg == "--shm-inline-max-bytes" && has_value) options.shm_inline_max_bytes = std::stoul(argv[++i]);
    else if (arg == "--single-copy-min-bytes" && has_value) options.shm_single_copy_min_bytes = std::stoul(argv[++i]);
    else if (arg == "--single-copy-max-bytes" && has_value) options.shm_single_copy_max_bytes = std::stoul(argv[++i]);
    else if (arg == "--no-single-copy") options.shm_single_copy = false;
    else {
      std::fprintf(stderr, "comm_collectives_test: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  return torus::test::run_tests_on_every_rank("comm_collectives_test", options, torus::comm::g_group);
}
