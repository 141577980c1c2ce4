// Memory bandwidth of Torus elementwise ops, reductions and copies on 64 MiB float
// tensors, against memcpy of the same 64 MiB on the same threads in the same run.
// Bandwidth counts the bytes an op must read plus the bytes it writes.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"
#include "framework/tensor/tensor.h"
#include "kernels/cpu/parallel.h"

namespace {

using torus::Tensor;
using torus::bench::Measurement;
using torus::bench::Options;

constexpr int64_t kRows = 16384, kCols = 1024;  // (R, C): 16 Mi floats, 64 MiB
constexpr int64_t kSide = 4096;                 // (S, S) for the transposed copies, 64 MiB
constexpr double kTensorBytes = kRows * kCols * sizeof(float);
constexpr double kTarget = 0.70;  // of memcpy bandwidth

struct Case {
  std::string name;
  std::string config;
  double bytes;               // read + written by one call
  std::function<void()> run;  // the timed call
  std::function<double()> error;  // largest error against a scalar loop (run once)
  double tolerance;
};

// The largest |got[i] - want(i)| / scale(i) over n elements.
template <class Want, class Scale>
double max_error(const float* got, int64_t n, const Want& want, const Scale& scale) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::abs(static_cast<double>(got[i]) - want(i)) / scale(i);
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  }
  return worst;
}

double exact(int64_t) { return 1.0; }

// Row-major (rows, cols) column sums in float64 and the sums of magnitudes that bound
// float32 rounding: error tolerances scale with the latter.
void column_sums(const float* x, int64_t rows, int64_t cols, std::vector<double>& sums,
                 std::vector<double>& magnitudes) {
  sums.assign(static_cast<size_t>(cols), 0.0);
  magnitudes.assign(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      sums[c] += x[r * cols + c];
      magnitudes[c] += std::abs(x[r * cols + c]);
    }
}

// memcpy split into one contiguous chunk per thread: the same thread budget as Torus.
void parallel_memcpy(void* dst, const void* src, size_t bytes, int threads) {
#pragma omp parallel num_threads(threads)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t n = static_cast<size_t>(omp_get_num_threads());
    const size_t begin = bytes * t / n / 64 * 64;
    const size_t end = t + 1 == n ? bytes : bytes * (t + 1) / n / 64 * 64;
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  }
}

struct Inputs {
  Tensor a, b;     // (R, C)
  Tensor row;      // (C)
  Tensor square;   // (S, S)
  Tensor out;      // (R, C), destination of copy_
  Tensor out_square;  // (S, S), destination of the transposed copy_
};

Inputs make_inputs() {
  torus::Generator gen(1234);
  Inputs in;
  in.a = Tensor::rand({kRows, kCols}, gen, torus::DType::f32, -1.0, 1.0);
  in.b = Tensor::rand({kRows, kCols}, gen, torus::DType::f32, -1.0, 1.0);
  in.row = Tensor::rand({kCols}, gen, torus::DType::f32, -1.0, 1.0);
  in.square = Tensor::rand({kSide, kSide}, gen, torus::DType::f32, -1.0, 1.0);
  in.out = Tensor::zeros({kRows, kCols});
  in.out_square = Tensor::zeros({kSide, kSide});
  return in;
}

std::vector<Case> make_cases(const Inputs& in) {
  const float* a = in.a.data<float>();
  const float* b = in.b.data<float>();
  const float* row = in.row.data<float>();
  const float* sq = in.square.data<float>();
  const int64_t n = kRows * kCols;
  const std::string rc = "(16384, 1024) f32";
  const std::string ss = "(4096, 4096) f32";
  std::vector<Case> cases;

  cases.push_back({"add", rc + ", contiguous", 3 * kTensorBytes,
                   [&in] { Tensor y = torus::add(in.a, in.b); },
                   [=, &in] {
                     Tensor y = torus::add(in.a, in.b);
                     return max_error(y.data<float>(), n, [=](int64_t i) { return a[i] + b[i]; }, exact);
                   },
                   0.0});
  cases.push_back({"mul_row", rc + " * (1024)", 2 * kTensorBytes + kCols * sizeof(float),
                   [&in] { Tensor y = torus::mul(in.a, in.row); },
                   [=, &in] {
                     Tensor y = torus::mul(in.a, in.row);
                     return max_error(y.data<float>(), n, [=](int64_t i) { return a[i] * row[i % kCols]; }, exact);
                   },
                   0.0});
  cases.push_back({"relu", rc, 2 * kTensorBytes, [&in] { Tensor y = torus::relu(in.a); },
                   [=, &in] {
                     Tensor y = torus::relu(in.a);
                     return max_error(y.data<float>(), n, [=](int64_t i) { return a[i] > 0 ? a[i] : 0.0f; }, exact);
                   },
                   0.0});
  cases.push_back({"exp", rc, 2 * kTensorBytes, [&in] { Tensor y = torus::exp(in.a); },
                   [=, &in] {
                     Tensor y = torus::exp(in.a);
                     auto want = [=](int64_t i) { return std::exp(static_cast<double>(a[i])); };
                     return max_error(y.data<float>(), n, want, want);
                   },
                   1e-6});
  cases.push_back({"sum_all", rc + " -> ()", kTensorBytes, [&in] { Tensor y = torus::sum(in.a); },
                   [=, &in] {
                     double total = 0, magnitude = 0;
                     for (int64_t i = 0; i < n; ++i) total += a[i], magnitude += std::abs(a[i]);
                     Tensor y = torus::sum(in.a);
                     return std::abs(y.item() - total) / magnitude;
                   },
                   1e-5});
  cases.push_back({"sum_dim0", rc + " -> (1024)", kTensorBytes + kCols * sizeof(float),
                   [&in] { Tensor y = torus::sum(in.a, {0}); },
                   [=, &in] {
                     std::vector<double> sums, magnitudes;
                     column_sums(a, kRows, kCols, sums, magnitudes);
                     Tensor y = torus::sum(in.a, {0});
                     return max_error(y.data<float>(), kCols, [&](int64_t c) { return sums[c]; },
                                      [&](int64_t c) { return magnitudes[c]; });
                   },
                   1e-5});
  cases.push_back({"copy_", rc + ", contiguous", 2 * kTensorBytes, [&in] { in.out.copy_(in.a); },
                   [=, &in] {
                     in.out.fill_(0.0);
                     in.out.copy_(in.a);
                     return max_error(in.out.data<float>(), n, [=](int64_t i) { return a[i]; }, exact);
                   },
                   0.0});
  auto transposed = [=](int64_t i) { return sq[(i % kSide) * kSide + i / kSide]; };
  cases.push_back({"copy_", ss + ", from x.t()", 2 * kTensorBytes, [&in] { in.out_square.copy_(in.square.t()); },
                   [=, &in] {
                     in.out_square.fill_(0.0);
                     in.out_square.copy_(in.square.t());
                     return max_error(in.out_square.data<float>(), kSide * kSide, transposed, exact);
                   },
                   0.0});
  cases.push_back({"contiguous", ss + ", x.t()", 2 * kTensorBytes,
                   [&in] { Tensor y = in.square.t().contiguous(); },
                   [=, &in] {
                     Tensor y = in.square.t().contiguous();
                     return max_error(y.data<float>(), kSide * kSide, transposed, exact);
                   },
                   0.0});
  return cases;
}

// Validates every case, then times each against memcpy, alternating op and memcpy.
// Returns the memcpy bandwidths of all repetitions.
std::vector<double> run_cases(const std::vector<Case>& cases, const Options& options) {
  std::vector<float> src(static_cast<size_t>(kRows * kCols)), dst(src.size());
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i % 1000) * 1e-3f;
  auto copy = [&] { parallel_memcpy(dst.data(), src.data(), src.size() * sizeof(float), options.threads); };

  for (const Case& c : cases) {
    const double error = c.error();
    if (!(error <= c.tolerance)) {
      std::fprintf(stderr, "elementwise_bench: %s on %s is wrong: error %.3g > tolerance %.3g\n",
                   c.name.c_str(), c.config.c_str(), error, c.tolerance);
      std::exit(1);
    }
  }
  std::vector<double> all_memcpy;
  for (const Case& c : cases) {
    const auto seconds = torus::bench::time_alternating({c.run, copy}, options);
    const auto op_rates = torus::bench::throughput(seconds[0], c.bytes, 1e9);
    const auto memcpy_rates = torus::bench::throughput(seconds[1], 2 * kTensorBytes, 1e9);
    all_memcpy.insert(all_memcpy.end(), memcpy_rates.begin(), memcpy_rates.end());
    torus::bench::report({c.name, c.config, options.threads, torus::bench::summarize(op_rates), "GB/s",
                          "memcpy", torus::bench::paired_ratio(op_rates, memcpy_rates),
                          {{"bytes", torus::bench::json_number(c.bytes)},
                           {"peer_median", torus::bench::json_number(torus::bench::median_of(memcpy_rates))},
                           {"target", torus::bench::json_number(kTarget)}}});
  }
  return all_memcpy;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = torus::bench::parse_options(
      argc, argv, "GB/s of Torus elementwise ops, reductions and copies on 64 MiB tensors vs memcpy.");
  torus::cpu::set_num_threads(options.threads);
  omp_set_num_threads(options.threads);
  std::fprintf(stderr, "elementwise_bench: %d threads, %d reps, 64 MiB tensors\n", options.threads,
               options.reps);
  torus::bench::print_table_header();
  const Inputs inputs = make_inputs();
  const std::vector<double> memcpy_rates = run_cases(make_cases(inputs), options);
  torus::bench::report({"memcpy", "64 MiB, split over the threads", options.threads,
                        torus::bench::summarize(memcpy_rates), "GB/s", "", 0,
                        {{"bytes", torus::bench::json_number(2 * kTensorBytes)}}});
  return 0;
}
