// The NCCL process group (distributed/comm/nccl_process_group.h) under mpirun with 2 ranks.
// Host-side (run everywhere): the dtype and reduce-op mappings, the choice of device, and the
// refusals of the tensor checks (on tensors that only claim to be on a device: the checks
// read metadata, never memory). GPU tests: every collective against closed-form,
// rank-dependent values, the ordering against the compute stream, barrier, and a timeout.
// They skip, saying why, when a rank has no CUDA device or its host has fewer devices than
// ranks (NCCL refuses two ranks on one device); every rank takes the same decision (an
// all-reduce over MPI), so none waits in NCCL alone.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "distributed/comm/nccl_process_group.h"
#include "kernels/cuda/broadcast.h"
#include "kernels/cuda/device_context.h"
#include "kernels/cuda/elementwise.h"
#include "support/mpi_test_main.h"
#include "support/error_message.h"

namespace torus::comm {
namespace {

ProcessGroup* g_group = nullptr;
ProcessGroup& group() { return *g_group; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A tensor that claims to live on `device` without memory behind it (never dereferenced).
Tensor fake_tensor(const Shape& shape, Device device, const Shape& strides = {}) {
  static char no_memory[1];
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(no_memory, sizeof no_memory, device, nullptr);
  impl->shape = shape;
  impl->strides = strides.empty() ? contiguous_strides(shape) : strides;
  impl->dtype = DType::f32;
  return Tensor(impl);
}


// ---- Host side ----

TEST(NcclMapping, EveryDTypeHasItsNcclType) {
  EXPECT_EQ(nccl_data_type(DType::f32), ncclFloat32);
  EXPECT_EQ(nccl_data_type(DType::f64), ncclFloat64);
  EXPECT_EQ(nccl_data_type(DType::bf16), ncclBfloat16);
  EXPECT_EQ(nccl_data_type(DType::f16), ncclFloat16);
  EXPECT_EQ(nccl_data_type(DType::i32), ncclInt32);
  EXPECT_EQ(nccl_data_type(DType::i64), ncclInt64);
  EXPECT_EQ(nccl_data_type(DType::u8), ncclUint8);
  for (DType dtype : kAllDTypes) EXPECT_NO_THROW(nccl_data_type(dtype)) << dtype_name(dtype);
}

TEST(NcclMapping, AverageIsNcclsOwn) {
  EXPECT_EQ(nccl_reduce_op(ReduceOp::sum), ncclSum);
  EXPECT_EQ(nccl_reduce_op(ReduceOp::average), ncclAvg);
}

TEST(NcclDevice, TheLocalRankPicksTheDeviceUnlessOneIsGiven) {
  EXPECT_EQ(NcclProcessGroup::choose_device(-1, 0, 1), 0);
  EXPECT_EQ(NcclProcessGroup::choose_device(-1, 3, 2), 1);
  EXPECT_EQ(NcclProcessGroup::choose_device(-1, 5, 8), 5);
  EXPECT_EQ(NcclProcessGroup::choose_device(1, 0, 2), 1);
  const std::string out_of_range = test::error_of<Error>([] { NcclProcessGroup::choose_device(2, 0, 2); });
  EXPECT_TRUE(contains(out_of_range, "device cuda:2 was asked for, but this process sees 2 CUDA devices"))
      << out_of_range;
  const std::string none = test::error_of<Error>([] { NcclProcessGroup::choose_device(-1, 0, 0); });
  EXPECT_TRUE(contains(none, "sees no CUDA device")) << none;
}

TEST(NcclChecks, AHostTensorIsRefusedByName) {
  const std::string what =
      test::error_of<Error>([] { NcclProcessGroup::check_device_tensor("all_reduce", Tensor::zeros({4}), "tensor", 0); });
  EXPECT_TRUE(contains(what, "all_reduce: tensor is on cpu; the NCCL process group takes device tensors on cuda:0"))
      << what;
}

TEST(NcclChecks, ATensorOnAnotherDeviceIsRefused) {
  const std::string what = test::error_of<Error>(
      [] { NcclProcessGroup::check_device_tensor("all_gather", fake_tensor({4}, Device::cuda(1)), "output", 0); });
  EXPECT_TRUE(contains(what, "all_gather: output is on cuda:1, but this rank's NCCL process group runs on cuda:0"))
      << what;
}

TEST(NcclChecks, ANonContiguousTensorIsRefused) {
  const Tensor transposed = fake_tensor({2, 3}, Device::cuda(0), {1, 2});
  const std::string what =
      test::error_of<Error>([&] { NcclProcessGroup::check_device_tensor("broadcast", transposed, "tensor", 0); });
  EXPECT_TRUE(contains(what, "broadcast: tensor of shape [2, 3] is not contiguous")) << what;
}

TEST(NcclChecks, AnUndefinedTensorIsRefused) {
  const std::string what =
      test::error_of<Error>([] { NcclProcessGroup::check_device_tensor("reduce_scatter", Tensor(), "input", 0); });
  EXPECT_TRUE(contains(what, "reduce_scatter: input is an undefined tensor")) << what;
}

TEST(NcclChecks, AContiguousTensorOnTheGroupsDeviceIsAccepted) {
  EXPECT_NO_THROW(NcclProcessGroup::check_device_tensor("all_reduce", fake_tensor({2, 3}, Device::cuda(1)), "t", 1));
}

TEST(NcclChecks, TheMpiGroupStillRefusesDeviceTensors) {
  const std::string what =
      test::error_of<Error>([] { group().all_reduce(fake_tensor({4}, Device::cuda(0))); });
  EXPECT_TRUE(contains(what, "need the NCCL process group")) << what;
}

// Where a rank has no device, the constructor throws on every rank, before the bootstrap (so
// none waits in it for the others).
TEST(NcclConstruction, WithoutADeviceEveryRankThrowsAlike) {
  Tensor without = Tensor::from_data<int32_t>({cuda::device_count() < 1 ? 1 : 0}, {1});
  group().all_reduce(without)->wait();
  const int32_t ranks_without = without.to_vector<int32_t>()[0];
  if (ranks_without == 0) GTEST_SKIP() << "every rank has a CUDA device";
  const std::string what = test::error_of<Error>([] { NcclProcessGroup nccl(group()); });
  EXPECT_TRUE(contains(what, fmt::format("NcclProcessGroup: {} of {} ranks cannot use a CUDA device; rank {}: ",
                                         ranks_without, group().size(), group().rank())))
      << what;
}

// ---- GPU ----

// Why the GPU tests cannot run on every rank ("" when they can); collective, asked once.
const std::string& gpu_skip_reason() {
  static const std::string reason = [] {
    const int devices = cuda::device_count();
    const int local = group().local_size();
    Tensor counts = Tensor::from_data<int32_t>({devices < 1 ? 1 : 0, devices >= 1 && devices < local ? 1 : 0}, {2});
    group().all_reduce(counts)->wait();
    const std::vector<int32_t> c = counts.to_vector<int32_t>();
    const std::string here = devices < 1 ? cuda::why_no_device()
                                         : fmt::format("{} CUDA device(s) for {} rank(s) on {}", devices, local,
                                                       group().host_name());
    if (c[0] > 0) return fmt::format("{} of {} ranks have no CUDA device (rank {}: {})", c[0], group().size(),
                                     group().rank(), here);
    if (c[1] > 0)
      return fmt::format("{} of {} ranks share a host with fewer CUDA devices than ranks, and NCCL refuses two "
                         "ranks on one device (rank {}: {})",
                         c[1], group().size(), group().rank(), here);
    return std::string();
  }();
  return reason;
}

std::unique_ptr<NcclProcessGroup> g_nccl;

// Ends the shared NCCL group before the MPI group it borrows.
class NcclEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { g_nccl.reset(); }
};

class NcclGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu_skip_reason().empty()) GTEST_SKIP() << gpu_skip_reason();
    ProcessGroupOptions options;
    options.timeout_seconds = 60;
    if (!g_nccl) g_nccl = std::make_unique<NcclProcessGroup>(group(), options);
  }
  NcclProcessGroup& nccl() { return *g_nccl; }
  int rank() const { return g_nccl->rank(); }
  int size() const { return g_nccl->size(); }
  cuda::DeviceContext& context() { return cuda::device_context(g_nccl->device()); }

  // A device tensor from the device's caching allocator (compute stream), filled with `values`.
  template <class T>
  Tensor on_device(const std::vector<T>& values) {
    cuda::DeviceContext& ctx = context();
    const size_t bytes = values.size() * sizeof(T);
    void* memory = ctx.allocate(bytes);
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(memory, bytes, Device::cuda(ctx.index()),
                                              [&ctx](void* p) { ctx.deallocate(p); });
    impl->shape = {static_cast<int64_t>(values.size())};
    impl->strides = {1};
    impl->dtype = dtype_of<T>;
    ctx.copy_to_device(memory, values.data(), bytes);
    return Tensor(impl);
  }
  // The tensor's values, copied on the compute stream (so after what wait() ordered).
  template <class T>
  std::vector<T> to_host(const Tensor& tensor) {
    std::vector<T> values(static_cast<size_t>(tensor.numel()));
    context().copy_to_host(values.data(), tensor.raw_data(), tensor.nbytes());
    return values;
  }
};

TEST_F(NcclGpu, AllReduceSumsOverRanks) {
  const int n = 1000;
  std::vector<float> f(n);
  std::vector<int64_t> l(n);
  for (int i = 0; i < n; ++i) {
    f[i] = static_cast<float>(i + 1000 * rank());
    l[i] = (int64_t{1} << 40) * rank() + i;
  }
  Tensor a = on_device(f), b = on_device(l);
  WorkPtr wa = nccl().all_reduce(a), wb = nccl().all_reduce(b);
  wa->wait();
  wb->wait();
  const std::vector<float> got_f = to_host<float>(a);
  const std::vector<int64_t> got_l = to_host<int64_t>(b);
  const int s = size();
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(got_f[i], static_cast<float>(s * i + 1000 * s * (s - 1) / 2)) << "f32 element " << i;
    ASSERT_EQ(got_l[i], (int64_t{1} << 40) * s * (s - 1) / 2 + int64_t{s} * i) << "i64 element " << i;
  }
  EXPECT_TRUE(wa->is_completed());
}

TEST_F(NcclGpu, AverageDividesByTheWorldSize) {
  const int n = 257;
  std::vector<float> values(n);
  for (int i = 0; i < n; ++i) values[i] = static_cast<float>(2 * (rank() + 1) * i);
  Tensor t = on_device(values);
  nccl().all_reduce(t, ReduceOp::average)->wait();
  const std::vector<float> got = to_host<float>(t);
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], static_cast<float>((size() + 1) * i)) << "element " << i;
}

TEST_F(NcclGpu, ReduceScatterGivesEachRankItsChunkOfTheSum) {
  const int n = 100;
  std::vector<float> in(static_cast<size_t>(size() * n));
  for (size_t j = 0; j < in.size(); ++j) in[j] = static_cast<float>(100000 * rank() + static_cast<int>(j));
  Tensor input = on_device(in), output = on_device(std::vector<float>(n, -1.0f));
  nccl().reduce_scatter(input, output)->wait();
  const std::vector<float> got = to_host<float>(output);
  const int s = size();
  for (int k = 0; k < n; ++k)
    ASSERT_EQ(got[k], static_cast<float>(100000 * s * (s - 1) / 2 + s * (rank() * n + k))) << "element " << k;
  EXPECT_EQ(to_host<float>(input), in) << "reduce_scatter changed its input";
}

TEST_F(NcclGpu, AllGatherConcatenatesInRankOrder) {
  const int n = 33;
  std::vector<int32_t> mine(n);
  for (int k = 0; k < n; ++k) mine[k] = 1000 * rank() + k;
  Tensor input = on_device(mine), output = on_device(std::vector<int32_t>(static_cast<size_t>(size() * n), -1));
  nccl().all_gather(input, output)->wait();
  const std::vector<int32_t> got = to_host<int32_t>(output);
  for (int q = 0; q < size(); ++q)
    for (int k = 0; k < n; ++k) ASSERT_EQ(got[q * n + k], 1000 * q + k) << "chunk " << q << " element " << k;
}

TEST_F(NcclGpu, BroadcastCopiesTheRootsTensor) {
  const int root = size() - 1;
  std::vector<uint8_t> values(77, static_cast<uint8_t>(rank() + 1));
  Tensor t = on_device(values);
  nccl().broadcast(t, root)->wait();
  EXPECT_EQ(to_host<uint8_t>(t), std::vector<uint8_t>(77, static_cast<uint8_t>(root + 1)));
}

// A compute kernel writes, the all-reduce reads it, and a compute kernel after wait() reads
// the sum: both directions of the event ordering, on a tensor large enough for a missing
// wait to show.
TEST_F(NcclGpu, CollectivesAreOrderedAgainstTheComputeStream) {
  const int64_t n = int64_t{1} << 24;
  Tensor ones = on_device(std::vector<float>(static_cast<size_t>(n), 1.0f));
  Tensor sum = on_device(std::vector<float>(static_cast<size_t>(n), 0.0f));
  const std::vector<int64_t> shape{n};
  const cuda::BroadcastLayout layout = cuda::broadcast_layout(shape, shape);
  cudaStream_t compute = context().compute_stream();
  float* ones_data = static_cast<float*>(ones.raw_data());
  float* sum_data = static_cast<float*>(sum.raw_data());
  cuda::binary_forward(cuda::BinaryOp::add, ones_data, ones_data, sum_data, layout, compute);  // 2
  WorkPtr work = nccl().all_reduce(sum);
  work->wait();  // compute waits for the all-reduce, the host does not
  cuda::binary_forward(cuda::BinaryOp::add, sum_data, ones_data, sum_data, layout, compute);  // 2 * size + 1
  const std::vector<float> got = to_host<float>(sum);
  const float want = static_cast<float>(2 * size() + 1);
  int64_t wrong = 0;
  for (float v : got) wrong += v != want;
  EXPECT_EQ(wrong, 0) << "of " << n << " elements, want " << want << " everywhere";
}

TEST_F(NcclGpu, BarrierAndSynchronizeBlockUntilTheOpsAreDone) {
  Tensor t = on_device(std::vector<float>(1 << 20, 1.0f));
  WorkPtr reduce = nccl().all_reduce(t);
  const uint64_t before = nccl().next_sequence();
  nccl().barrier()->wait();
  EXPECT_TRUE(reduce->is_completed()) << "the barrier returned before an op issued earlier ended";
  EXPECT_EQ(nccl().next_sequence(), before + 1);
  WorkPtr again = nccl().all_reduce(t);
  auto* handle = dynamic_cast<NcclWork*>(again.get());
  ASSERT_NE(handle, nullptr);
  handle->synchronize();
  EXPECT_TRUE(again->is_completed());
  nccl().synchronize();
  const std::string trace = nccl().trace();
  EXPECT_TRUE(contains(trace, "barrier")) << trace;
  EXPECT_TRUE(contains(trace, "NCCL collective trace of rank")) << trace;
  EXPECT_EQ(nccl().backend_name(), "nccl");
}

TEST_F(NcclGpu, ArgumentsAreCheckedBeforeAnOpIsIssued) {
  const uint64_t before = nccl().next_sequence();
  EXPECT_TRUE(contains(test::error_of<Error>([&] { nccl().all_reduce(Tensor::zeros({4})); }), "is on cpu"));
  EXPECT_TRUE(contains(test::error_of<Error>([&] { nccl().all_reduce(on_device(std::vector<int32_t>(4, 1)), ReduceOp::average); }),
                       "average of i32 would truncate"));
  EXPECT_TRUE(contains(test::error_of<Error>([&] {
                         nccl().reduce_scatter(on_device(std::vector<float>(5)), on_device(std::vector<float>(2)));
                       }),
                       "needs"));
  EXPECT_TRUE(contains(test::error_of<Error>([&] { nccl().broadcast(on_device(std::vector<float>(4)), size()); }),
                       "is not a rank of this group"));
  EXPECT_EQ(nccl().next_sequence(), before) << "a refused op took a sequence number";
}

// Last: rank 0 issues an all-reduce no other rank joins, on a group of its own with a 2 s
// timeout. Its blocking wait times out naming the rank, the op and the seconds, the
// communicator is aborted, and later ops throw at once.
TEST_F(NcclGpu, ATimeoutAbortsTheCommunicatorAndNamesRankAndOp) {
  if (size() < 2) GTEST_SKIP() << "a timeout needs a rank that does not join (world of " << size() << ")";
  ProcessGroupOptions options;
  options.timeout_seconds = 2;
  NcclProcessGroup lonely(group(), options);
  Tensor t = on_device(std::vector<float>(1024, 1.0f));
  // Same op and size once on every rank: NCCL connects peers on first use, and a connection
  // to a rank that never comes would block the host inside ncclAllReduce instead.
  lonely.all_reduce(t)->wait();
  lonely.synchronize();
  if (rank() == 0) {
    WorkPtr stuck = lonely.all_reduce(t);
    std::string what;
    try {
      dynamic_cast<NcclWork&>(*stuck).synchronize();
    } catch (const CommTimeoutError& e) {
      what = e.what();
    }
    EXPECT_TRUE(contains(what, "all_reduce(sum) (sequence 2) timed out on rank 0 of")) << what;
    EXPECT_TRUE(contains(what, "(timeout 2 s)")) << what;
    EXPECT_TRUE(contains(what, "ncclCommAbort")) << what;
    EXPECT_TRUE(contains(what, "NCCL collective trace of rank 0")) << what;
    const std::string later = test::error_of<Error>([&] { lonely.all_reduce(t); });
    EXPECT_TRUE(contains(later, "cannot be used any more")) << later;
    EXPECT_TRUE(contains(test::error_of<Error>([&] { lonely.barrier(); }), "cannot be used any more"));
  }
  group().barrier()->wait();
  if (rank() != 0) lonely.abort_communicator("test: rank 0 timed out");
}

}  // namespace
}  // namespace torus::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new torus::comm::NcclEnvironment);
  torus::comm::ProcessGroupOptions options;
  options.timeout_seconds = 120;
  return torus::test::run_tests_on_every_rank("nccl_process_group_test", options, torus::comm::g_group);
}
