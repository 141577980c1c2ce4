// The process-group layer without MPI ranks: the world of one (every collective the
// identity or a copy, with the MPI backend's argument checks), the collective trace,
// the queued Work's timeout path, the communication thread's ordering, world detection
// from the environment, and the text of MPI errors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "distributed/comm/comm_thread.h"
#include "distributed/comm/local_process_group.h"
#include "distributed/comm/mpi_error.h"
#include "distributed/comm/op_trace.h"
#include "distributed/comm/work.h"
#include "distributed/comm/world.h"

namespace torus::comm {
namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

Tensor ramp(int64_t n, DType dtype) {
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = static_cast<double>(i % 97) + 1;
  return Tensor::from_vector(values, {n}, dtype);
}

TEST(LocalProcessGroup, IsAWorldOfOne) {
  LocalProcessGroup group;
  EXPECT_EQ(group.rank(), 0);
  EXPECT_EQ(group.size(), 1);
  EXPECT_EQ(group.local_rank(), 0);
  EXPECT_EQ(group.local_size(), 1);
  EXPECT_FALSE(group.host_name().empty());
  EXPECT_EQ(group.backend_name(), "local");
}

TEST(LocalProcessGroup, AllReduceAndBroadcastLeaveTheTensorAsItWas) {
  LocalProcessGroup group;
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64}) {
    for (int64_t n : {0, 1, 7, 1000}) {
      Tensor t = ramp(n, dtype);
      const std::vector<double> before = t.to_vector<double>();
      WorkPtr sum = group.all_reduce(t, ReduceOp::sum);
      EXPECT_TRUE(sum->is_completed());
      sum->wait();
      if (is_floating(dtype)) group.all_reduce(t, ReduceOp::average)->wait();
      group.broadcast(t, 0)->wait();
      EXPECT_EQ(t.to_vector<double>(), before) << dtype_name(dtype) << " n=" << n;
    }
  }
}

TEST(LocalProcessGroup, ReduceScatterAndAllGatherCopy) {
  LocalProcessGroup group;
  for (DType dtype : {DType::f32, DType::f64, DType::bf16}) {
    Tensor input = ramp(7, dtype);
    Tensor scattered = Tensor::zeros({7}, dtype);
    group.reduce_scatter(input, scattered)->wait();
    EXPECT_EQ(scattered.to_vector<double>(), input.to_vector<double>());
    Tensor gathered = Tensor::zeros({7}, dtype);
    group.all_gather(scattered, gathered)->wait();
    EXPECT_EQ(gathered.to_vector<double>(), input.to_vector<double>());
  }
  group.barrier()->wait();
}

TEST(LocalProcessGroup, RefusesWhatTheMpiBackendRefuses) {
  LocalProcessGroup group;
  EXPECT_NE(error_of([&] { group.all_reduce(ramp(4, DType::i64), ReduceOp::average); })
                .find("average of i64 would truncate"),
            std::string::npos);
  EXPECT_NE(error_of([&] { group.all_reduce(ramp(4, DType::u8)); }).find("cannot reduce dtype u8"),
            std::string::npos);
  Tensor matrix = ramp(6, DType::f32).view({2, 3});
  EXPECT_NE(error_of([&] { group.all_reduce(matrix.t()); }).find("not contiguous"),
            std::string::npos);
  EXPECT_NE(error_of([&] { group.broadcast(matrix, 1); }).find("root 1 is not a rank"),
            std::string::npos);
  EXPECT_NE(error_of([&] { group.all_gather(ramp(3, DType::f32), ramp(4, DType::f32)); })
                .find("output has 4 elements and input 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { group.all_gather(ramp(3, DType::f32), ramp(3, DType::f64)); })
                .find("input is f32 but output is f64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { group.all_reduce(Tensor()); }).find("undefined tensor"),
            std::string::npos);
}

TEST(LocalProcessGroup, TracesEveryOp) {
  LocalProcessGroup group(ProcessGroupOptions{.timeout_seconds = 1, .trace_capacity = 2});
  group.all_reduce(ramp(10, DType::f32))->wait();
  group.broadcast(ramp(3, DType::f64), 0)->wait();
  WorkPtr last = group.barrier();
  EXPECT_EQ(last->sequence(), 3u);
  EXPECT_EQ(last->op(), "barrier");
  EXPECT_EQ(group.next_sequence(), 4u);
  const std::string trace = group.trace();
  EXPECT_NE(trace.find("last 2 of 3 ops"), std::string::npos) << trace;
  EXPECT_NE(trace.find("broadcast(root 0)"), std::string::npos) << trace;
  EXPECT_EQ(trace.find("all_reduce"), std::string::npos) << trace;  // dropped: capacity 2
}

TEST(OpTrace, RecordsStatesAndTimes) {
  OpTrace trace(8);
  trace.add(1, "all_reduce(sum)", "f32", 4000);
  trace.add(2, "barrier", "", 0);
  trace.set_state(1, OpState::running);
  trace.set_state(1, OpState::done);
  trace.set_state(2, OpState::running);
  trace.set_state(99, OpState::failed);  // never added: ignored
  const std::vector<OpRecord> records = trace.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].state, OpState::done);
  EXPECT_GE(records[0].started_s, records[0].queued_s);
  EXPECT_GE(records[0].ended_s, records[0].started_s);
  EXPECT_EQ(records[1].state, OpState::running);
  EXPECT_LT(records[1].ended_s, 0);
  const std::string text = trace.format("title");
  EXPECT_NE(text.find("4000"), std::string::npos) << text;
  EXPECT_NE(text.find("running"), std::string::npos) << text;
}

TEST(QueuedWork, WaitReturnsOnceFinishedAndRethrowsItsError) {
  auto never = [](const QueuedWork&, double, bool) { return std::string("unexpected timeout"); };
  QueuedWork ok("all_reduce(sum)", 1, 5, never);
  EXPECT_FALSE(ok.is_completed());
  std::thread finisher([&] { ok.finish(); });
  ok.wait();
  finisher.join();
  EXPECT_TRUE(ok.is_completed());

  QueuedWork failed("broadcast(root 0)", 2, 5, never);
  failed.finish(std::make_exception_ptr(Error("MPI_Bcast failed")));
  EXPECT_EQ(error_of([&] { failed.wait(); }), "MPI_Bcast failed");
}

TEST(QueuedWork, TimesOutWithTheReportersMessage) {
  bool reported_started = false;
  QueuedWork stuck("all_gather", 7, 0.2, [&](const QueuedWork& w, double waited, bool started) {
    reported_started = started;
    return fmt::format("{} sequence {} waited {:.1f}", w.op(), w.sequence(), waited);
  });
  stuck.mark_running();
  const auto start = std::chrono::steady_clock::now();
  try {
    stuck.wait();
    FAIL() << "no timeout";
  } catch (const CommTimeoutError& e) {
    // The reporter's text is the message; how long it waited depends on the machine's load.
    const std::string what = e.what();
    const std::string prefix = "all_gather sequence 7 waited ";
    ASSERT_EQ(what.substr(0, prefix.size()), prefix) << what;
    EXPECT_GE(std::stod(what.substr(prefix.size())), 0.2) << what;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(seconds, 0.2);
  EXPECT_LT(seconds, 2.0);
  EXPECT_TRUE(reported_started);
  EXPECT_FALSE(stuck.is_completed());
}

TEST(CommThread, RunsTasksInOrderOffTheCallersThread) {
  std::vector<int> order;
  std::thread::id runner;
  {
    CommThread thread;
    for (int i = 0; i < 100; ++i)
      thread.post([&order, &runner, i] {
        runner = std::this_thread::get_id();
        order.push_back(i);
      });
  }  // the destructor runs what is queued, then joins
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  EXPECT_NE(runner, std::this_thread::get_id());
}

TEST(CommThread, AbandonLeavesAStuckTaskBehind) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto later_ran = std::make_shared<std::atomic<bool>>(false);
  {
    CommThread thread;
    thread.post([release] {
      while (!*release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    thread.post([later_ran] { *later_ran = true; });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    thread.abandon();
  }  // returns at once although the first task is still running
  *release = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(*later_ran);
}

// Sets environment variables for one test and restores them after.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

void clear_launcher_env(ScopedEnv& env) {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                           "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
                           "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "PMIX_RANK"})
    env.set(name, nullptr);
}

TEST(World, OneProcessIsAWorldOfOne) {
  ScopedEnv env;
  clear_launcher_env(env);
  EXPECT_FALSE(world_from_environment().has_value());
  EXPECT_FALSE(launched_by_mpi());
  std::unique_ptr<ProcessGroup> group = make_process_group();
  EXPECT_EQ(group->backend_name(), "local");
  EXPECT_EQ(group->size(), 1);
}

TEST(World, ReadsOpenMpiAndSlurmVariables) {
  ScopedEnv env;
  clear_launcher_env(env);
  env.set("OMPI_COMM_WORLD_RANK", "5");
  env.set("OMPI_COMM_WORLD_SIZE", "8");
  env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1");
  env.set("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
  std::optional<WorldInfo> world = world_from_environment();
  ASSERT_TRUE(world.has_value());
  EXPECT_EQ(world->rank, 5);
  EXPECT_EQ(world->size, 8);
  EXPECT_EQ(world->local_rank, 1);
  EXPECT_EQ(world->local_size, 4);
  EXPECT_TRUE(launched_by_mpi());

  ScopedEnv slurm;
  clear_launcher_env(slurm);
  slurm.set("SLURM_PROCID", "2");
  slurm.set("SLURM_NTASKS", "3");
  slurm.set("SLURM_LOCALID", "0");
  world = world_from_environment();
  ASSERT_TRUE(world.has_value());
  EXPECT_EQ(world->rank, 2);
  EXPECT_EQ(world->size, 3);
  EXPECT_EQ(world->local_size, 0);  // not given by Slurm in a parseable form
  EXPECT_FALSE(launched_by_mpi());  // srun without PMIx: no MPI world to join

  slurm.set("SLURM_PROCID", "3");
  EXPECT_NE(error_of([] { world_from_environment(); }).find("rank 3 (SLURM_PROCID) is not below"),
            std::string::npos);
  slurm.set("SLURM_PROCID", "x");
  EXPECT_NE(error_of([] { world_from_environment(); }).find("SLURM_PROCID=x"), std::string::npos);
}

TEST(MpiError, NamesTheCallAndTheLocationEvenBeforeMpiStarts) {
  // MPI is not initialised in this binary: the message has the code instead of MPI's text.
  const std::string message = error_of([] { TORUS_MPI(MPI_ERR_COUNT); });
  EXPECT_NE(message.find("MPI_ERR_COUNT failed"), std::string::npos) << message;
  EXPECT_NE(message.find("comm_local_test.cpp:"), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("MPI error code {}", MPI_ERR_COUNT)), std::string::npos)
      << message;
  try {
    TORUS_MPI(MPI_ERR_TRUNCATE);
  } catch (const MpiError& e) {
    EXPECT_EQ(e.mpi_code(), MPI_ERR_TRUNCATE);
  }
}

}  // namespace
}  // namespace torus::comm
