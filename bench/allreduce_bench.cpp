// allreduce_bench: in-place f32 sum all-reduce bandwidth of one implementation per job;
// bench/run_comm_bench.sh alternates the two jobs and aggregates them.
//   --impl mpi    raw MPI_Allreduce(MPI_IN_PLACE, ..., MPI_SUM) after a plain MPI_Init (the peer)
//   --impl torus  comm::make_process_group(), then group->all_reduce(t)->wait()
// For each size (bytes per rank): validate on seeded small integers (sums are exact in f32),
// warm up, calibrate the calls per run to last --min-time, then time --runs runs; a run's
// time per call is the maximum over ranks. busbw = bytes / time * 2(n-1)/n, 1 GB = 1e9 B
// (nccl-tests' definitions). One JSON line per size on rank 0's stdout.
//
//   mpirun --oversubscribe --allow-run-as-root -np 2 allreduce_bench --impl mpi|torus
//       [--min-bytes 4096] [--max-bytes 268435456] [--factor 4] [--runs 3] [--min-time 0.2]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "distributed/comm/mpi_error.h"
#include "distributed/comm/world.h"

namespace {

using torus::bench::json_number;
using torus::bench::json_string;
using torus::bench::seconds_now;

// The collectives the benchmark needs, from either implementation: the timed all-reduce of
// one buffer, plus the untimed helpers that synchronise and compare the ranks.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // A buffer of `count` floats for all_reduce(); the previous one is released.
  virtual float* prepare(int64_t count) = 0;
  virtual void all_reduce() = 0;  // in place, sum, over the prepared buffer
  virtual void barrier() = 0;
  virtual double max_over_ranks(double value) = 0;
  virtual int64_t sum_over_ranks(int64_t value) = 0;
};

class MpiCollective final : public Collective {
 public:
  MpiCollective() {
    TORUS_MPI(MPI_Init(nullptr, nullptr));
    // Errors come back as codes (checked by TORUS_MPI) instead of aborting inside MPI.
    TORUS_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    TORUS_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    TORUS_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  }
  ~MpiCollective() override {
    buffer_.reset();
    MPI_Finalize();  // in a destructor: nothing to do with a failure but exit
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  float* prepare(int64_t count) override {
    buffer_.reset();
    // Page-aligned, as a careful user of MPI would allocate it.
    const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + 4095) / 4096 * 4096;
    buffer_.reset(static_cast<float*>(std::aligned_alloc(4096, bytes)));
    TORUS_CHECK(buffer_ != nullptr, "allreduce_bench: cannot allocate {} bytes", bytes);
    count_ = static_cast<int>(count);
    return buffer_.get();
  }
  void all_reduce() override {
    TORUS_MPI(MPI_Allreduce(MPI_IN_PLACE, buffer_.get(), count_, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
  }
  void barrier() override { TORUS_MPI(MPI_Barrier(MPI_COMM_WORLD)); }
  double max_over_ranks(double value) override {
    double result = 0;
    TORUS_MPI(MPI_Allreduce(&value, &result, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    return result;
  }
  int64_t sum_over_ranks(int64_t value) override {
    int64_t result = 0;
    TORUS_MPI(MPI_Allreduce(&value, &result, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    return result;
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  int rank_ = 0, size_ = 1, count_ = 0;
  std::unique_ptr<float, Free> buffer_;
};

class TorusCollective final : public Collective {
 public:
  TorusCollective() : group_(torus::comm::make_process_group()) {}
  int rank() const override { return group_->rank(); }
  int size() const override { return group_->size(); }
  float* prepare(int64_t count) override {
    tensor_ = torus::Tensor();
    tensor_ = torus::Tensor::empty({count});
    return tensor_.data<float>();
  }
  void all_reduce() override { group_->all_reduce(tensor_)->wait(); }
  void barrier() override { group_->barrier()->wait(); }
  double max_over_ranks(double value) override {
    torus::Tensor mine = torus::Tensor::scalar(value, torus::DType::f64).reshape({1});
    torus::Tensor all = torus::Tensor::empty({size()}, torus::DType::f64);
    group_->all_gather(mine, all)->wait();
    const double* v = all.data<double>();
    return *std::max_element(v, v + size());
  }
  int64_t sum_over_ranks(int64_t value) override {
    torus::Tensor t = torus::Tensor::scalar(static_cast<double>(value), torus::DType::i64);
    group_->all_reduce(t)->wait();
    return *t.data<int64_t>();
  }

 private:
  std::unique_ptr<torus::comm::ProcessGroup> group_;
  torus::Tensor tensor_;
};

struct Options {
  std::string impl;
  int64_t min_bytes = 4096;
  int64_t max_bytes = int64_t{256} << 20;
  int factor = 4;
  int runs = 3;
  double min_time = 0.2;  // seconds per run
  uint64_t seed = 1;
};

[[noreturn]] void usage(const char* program) {
  std::fprintf(stderr,
               "usage: mpirun -np N %s --impl mpi|torus [--min-bytes B] [--max-bytes B] [--factor F] [--runs R]\n"
               "       [--min-time S] [--seed S]\n",
               program);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    const char* value = argv[++i];
    if (arg == "--impl") o.impl = value;
    else if (arg == "--min-bytes") o.min_bytes = std::atoll(value);
    else if (arg == "--max-bytes") o.max_bytes = std::atoll(value);
    else if (arg == "--factor") o.factor = std::atoi(value);
    else if (arg == "--runs") o.runs = std::atoi(value);
    else if (arg == "--min-time") o.min_time = std::atof(value);
    else if (arg == "--seed") o.seed = std::strtoull(value, nullptr, 10);
    else usage(argv[0]);
  }
  if ((o.impl != "mpi" && o.impl != "torus") || o.min_bytes < 4 || o.max_bytes < o.min_bytes || o.factor < 2 ||
      o.runs < 1 || o.min_time <= 0 || o.max_bytes / 4 > INT32_MAX)
    usage(argv[0]);
  return o;
}

// Rank `rank`'s seeded input at element i: an integer 1..8, so any sum over ranks is exact.
float input_value(uint64_t seed, int rank, int64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + (static_cast<uint64_t>(rank) << 40) + static_cast<uint64_t>(i);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;  // splitmix64's finaliser
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<float>(1 + ((z ^ (z >> 31)) & 7));
}

void fill(float* data, int64_t count, uint64_t seed, int rank) {
  for (int64_t i = 0; i < count; ++i) data[i] = input_value(seed, rank, i);
}

// Elements of one all-reduce that differ from the exact sum of every rank's input, over all ranks.
int64_t wrong_elements(Collective& c, float* data, int64_t count, uint64_t seed) {
  fill(data, count, seed, c.rank());
  c.all_reduce();
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i) {
    float expected = 0;
    for (int r = 0; r < c.size(); ++r) expected += input_value(seed, r, i);
    wrong += data[i] != expected;
  }
  return c.sum_over_ranks(wrong);
}

// Seconds per call of `calls` back-to-back all-reduces, the slowest rank's.
double time_calls(Collective& c, int64_t calls) {
  c.barrier();
  const double start = seconds_now();
  for (int64_t i = 0; i < calls; ++i) c.all_reduce();
  return c.max_over_ranks((seconds_now() - start) / static_cast<double>(calls));
}

std::string size_label(int64_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  TORUS_MPI(MPI_Get_library_version(text, &length));
  std::string line(text, static_cast<size_t>(length));
  return line.substr(0, line.find_first_of("\n,"));  // "Open MPI v4.1.4"
}

int run(const Options& o) {
  std::unique_ptr<Collective> c;
  if (o.impl == "mpi") c = std::make_unique<MpiCollective>();
  else c = std::make_unique<TorusCollective>();
  const int n = c->size();
  TORUS_CHECK(n >= 2, "allreduce_bench: {} rank; start it with mpirun -np 2 (or more)", n);
  const std::string library = mpi_library();
  const double bus_factor = 2.0 * (n - 1) / n;
  for (int64_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= o.factor) {
    const int64_t count = bytes / 4;
    float* data = c->prepare(count);
    const int64_t wrong = wrong_elements(*c, data, count, o.seed + static_cast<uint64_t>(bytes));
    if (wrong != 0) {
      if (c->rank() == 0)
        std::fprintf(stderr, "allreduce_bench: --impl %s, %s: %lld elements differ from the exact sum\n",
                     o.impl.c_str(), size_label(bytes).c_str(), static_cast<long long>(wrong));
      return 1;
    }
    // Timed on the seeded data, refilled before each run. In place, every call multiplies
    // it by n, so after ~125 calls it is +inf; f32 adds of inf take the time of any other
    // (only subnormals are slow on x86), and it never becomes NaN or subnormal.
    fill(data, count, o.seed, c->rank());
    for (int i = 0; i < 5; ++i) c->all_reduce();  // warm-up
    int64_t calls = 1;
    double per_call = 0;
    for (;;) {  // every rank gets the same maximum, so all leave the loop together
      per_call = time_calls(*c, calls);
      if (per_call * static_cast<double>(calls) >= 0.02 || calls >= (int64_t{1} << 30)) break;
      calls *= 2;
    }
    const int64_t iterations = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(o.min_time / per_call)));
    std::vector<double> seconds;
    for (int r = 0; r < o.runs; ++r) {
      fill(data, count, o.seed, c->rank());
      seconds.push_back(time_calls(*c, iterations));
    }
    if (c->rank() != 0) continue;
    const torus::bench::Summary t = torus::bench::summarize(seconds);
    auto busbw = [&](double s) { return static_cast<double>(bytes) / s * bus_factor * 1e-9; };
    const bool peer = o.impl == "mpi";
    std::printf(
        "{\"suite\": \"comm\", \"name\": %s, \"impl\": %s, \"config\": %s, \"threads\": 1, \"ranks\": %d, "
        "\"median\": %s, \"min\": %s, \"max\": %s, \"unit\": \"GB/s\", \"peer\": null, \"ratio\": null, "
        "\"bytes\": %lld, \"count\": %lld, \"calls_per_run\": %lld, \"runs\": %d, \"us_median\": %s, "
        "\"us_min\": %s, \"us_max\": %s, \"algbw_median\": %s, \"wrong_elements\": 0, \"mpi_library\": %s}\n",
        json_string(peer ? "mpi_allreduce" : "torus_all_reduce").c_str(), json_string(o.impl).c_str(),
        json_string("all_reduce f32 sum in place, " + size_label(bytes) + " per rank").c_str(), n,
        json_number(busbw(t.median)).c_str(), json_number(busbw(t.max)).c_str(), json_number(busbw(t.min)).c_str(),
        static_cast<long long>(bytes), static_cast<long long>(count), static_cast<long long>(iterations), o.runs,
        json_number(t.median * 1e6).c_str(), json_number(t.min * 1e6).c_str(), json_number(t.max * 1e6).c_str(),
        json_number(static_cast<double>(bytes) / t.median * 1e-9).c_str(), json_string(library).c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "allreduce_bench: %s\n", e.what());
    return 1;
  }
}
