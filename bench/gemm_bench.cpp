// fp32 GEMM throughput of torus::cpu::gemm against the oneDNN call it wraps and against
// OpenBLAS, on square sizes and on the matrix products of the reference workloads.
// Validates the three against each other and against a float64 reference first.
#include <cblas.h>
#include <dnnl.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace {

using torus::bench::Measurement;
using torus::bench::Options;

// C (m x n) = op(A) (m x k) · op(B) (k x n), row-major; op transposes a stored matrix.
struct Problem {
  const char* name;
  bool trans_a, trans_b;
  int64_t m, n, k;

  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k); }
  int64_t lda() const { return trans_a ? m : k; }
  int64_t ldb() const { return trans_b ? k : n; }
  std::string config() const {
    return std::string(name) + " " + std::to_string(m) + "x" + std::to_string(n) + "x" +
           std::to_string(k) + " " + (trans_a ? "T" : "N") + (trans_b ? "T" : "N");
  }
};

// A Linear layer y = x·Wᵀ with W (out, in) multiplies x·Wᵀ forward (NT), dy·W for the
// input gradient (NN) and dyᵀ·x for the weight gradient (TN).
const std::vector<Problem> kProblems = {
    {"square", false, false, 512, 512, 512},
    {"square", false, false, 1024, 1024, 1024},
    {"square", false, false, 2048, 2048, 2048},
    // W1 MLP 784-1024-1024-10, batch 256 (the 10-wide head is too small to matter).
    {"mlp.fc1.fwd", false, true, 256, 1024, 784},
    {"mlp.fc2.fwd", false, true, 256, 1024, 1024},
    {"mlp.fc2.dx", false, false, 256, 1024, 1024},
    {"mlp.fc2.dw", true, false, 1024, 1024, 256},
    {"mlp.fc1.dw", true, false, 1024, 784, 256},
    // W2 GPT, batch 16 x context 128 = 2048 tokens, d_model 256, MLP 1024.
    {"gpt.qkv.fwd", false, true, 2048, 768, 256},
    {"gpt.fc.fwd", false, true, 2048, 1024, 256},
    {"gpt.proj.fwd", false, true, 2048, 256, 1024},
    {"gpt.fc.dx", false, false, 2048, 256, 1024},
    {"gpt.fc.dw", true, false, 1024, 256, 2048},
    {"gpt.proj.dw", true, false, 256, 1024, 2048},
};

struct Operands {
  std::vector<float> a, b;
};

Operands random_operands(const Problem& p, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Operands ops{std::vector<float>(static_cast<size_t>(p.m * p.k)),
               std::vector<float>(static_cast<size_t>(p.k * p.n))};
  for (float& v : ops.a) v = uniform(rng);
  for (float& v : ops.b) v = uniform(rng);
  return ops;
}

void torus_gemm(const Problem& p, const Operands& x, float* c) {
  torus::cpu::GemmShape shape{p.trans_a, p.trans_b, p.m, p.n, p.k, p.lda(), p.ldb(), p.n};
  torus::cpu::gemm(shape, 1.0f, x.a.data(), x.b.data(), 0.0f, c);
}

void onednn_gemm(const Problem& p, const Operands& x, float* c) {
  const dnnl_status_t status = dnnl_sgemm(p.trans_a ? 'T' : 'N', p.trans_b ? 'T' : 'N', p.m, p.n, p.k, 1.0f,
                                          x.a.data(), p.lda(), x.b.data(), p.ldb(), 0.0f, c, p.n);
  if (status != dnnl_success) {
    std::fprintf(stderr, "dnnl_sgemm failed with status %d on %s\n", static_cast<int>(status),
                 p.config().c_str());
    std::exit(1);
  }
}

void openblas_gemm(const Problem& p, const Operands& x, float* c) {
  cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(p.m), static_cast<blasint>(p.n), static_cast<blasint>(p.k), 1.0f,
              x.a.data(), static_cast<blasint>(p.lda()), x.b.data(), static_cast<blasint>(p.ldb()), 0.0f, c,
              static_cast<blasint>(p.n));
}

// ||x - y||_F / ||y||_F
double relative_error(const std::vector<float>& x, const std::vector<float>& y) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - y[i];
    diff += d * d;
    norm += static_cast<double>(y[i]) * y[i];
  }
  return std::sqrt(diff / norm);
}

// Largest error of `c` on 256 sampled entries against a float64 dot product, each
// relative to sum_p |a_ip b_pj| (the scale float rounding errors grow with).
double sampled_error(const Problem& p, const Operands& x, const std::vector<float>& c) {
  std::mt19937 rng(7);
  double worst = 0;
  for (int s = 0; s < 256; ++s) {
    const int64_t i = static_cast<int64_t>(rng() % static_cast<uint32_t>(p.m));
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint32_t>(p.n));
    double exact = 0, scale = 0;
    for (int64_t q = 0; q < p.k; ++q) {
      const double a = x.a[static_cast<size_t>(p.trans_a ? q * p.lda() + i : i * p.lda() + q)];
      const double b = x.b[static_cast<size_t>(p.trans_b ? j * p.ldb() + q : q * p.ldb() + j)];
      exact += a * b;
      scale += std::abs(a * b);
    }
    worst = std::max(worst, std::abs(c[static_cast<size_t>(i * p.n + j)] - exact) / scale);
  }
  return worst;
}

// All three must agree with each other and with float64 before any of them is timed.
// Returns the largest error seen, for the record.
double validate(const Problem& p, const Operands& x) {
  constexpr double kTolerance = 1e-5;  // float32 sums of up to 2048 terms land near 1e-6
  const size_t size = static_cast<size_t>(p.m * p.n);
  std::vector<float> torus(size, NAN), onednn(size, NAN), openblas(size, NAN);
  torus_gemm(p, x, torus.data());
  onednn_gemm(p, x, onednn.data());
  openblas_gemm(p, x, openblas.data());
  const double errors[] = {relative_error(torus, onednn), relative_error(openblas, onednn),
                           sampled_error(p, x, torus), sampled_error(p, x, openblas)};
  double worst = 0;
  for (double e : errors) worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  if (!(worst <= kTolerance)) {
    std::fprintf(stderr,
                 "gemm_bench: results disagree on %s: torus vs oneDNN %.2g, OpenBLAS vs oneDNN %.2g, "
                 "torus vs f64 %.2g, OpenBLAS vs f64 %.2g (tolerance %.0g)\n",
                 p.config().c_str(), errors[0], errors[1], errors[2], errors[3], kTolerance);
    std::exit(1);
  }
  return worst;
}

std::string openblas_environment() {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const char* l2 = std::getenv("OPENBLAS_L2_SIZE");
  std::string env = std::string("OPENBLAS_CORETYPE=") + (coretype ? coretype : "(unset)");
  if (l2) env += std::string(" OPENBLAS_L2_SIZE=") + l2;
  return env;
}

// The fp32 FMA ceiling GEMM is measured against: independent chains of the widest FMA
// the build targets (-march=native), on every thread, touching no memory.
#if defined(__AVX512F__)
#define TORUS_BENCH_FMA 1
struct Simd {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static Vec splat(float v) { return _mm512_set1_ps(v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static float first(Vec v) { return _mm512_cvtss_f32(v); }
};
#elif defined(__AVX2__) && defined(__FMA__)
#define TORUS_BENCH_FMA 1
struct Simd {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static Vec splat(float v) { return _mm256_set1_ps(v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static float first(Vec v) { return _mm256_cvtss_f32(v); }
};
#endif

#ifdef TORUS_BENCH_FMA
constexpr int kChains = 12;  // more than FMA latency x FMA pipes on current x86 cores
constexpr int64_t kFmaSteps = 1 << 20;

// Returns the FLOP done; `sink` (a cache line per thread) keeps the chains alive.
double fma_chains(float* sink) {
  double flops = 0;
#pragma omp parallel reduction(+ : flops)
  {
    Simd::Vec acc[kChains];
    for (int j = 0; j < kChains; ++j) acc[j] = Simd::splat(0.001f * static_cast<float>(j));
    const Simd::Vec scale = Simd::splat(0.999999f), shift = Simd::splat(1e-7f);
    for (int64_t i = 0; i < kFmaSteps; ++i)
      for (int j = 0; j < kChains; ++j) acc[j] = Simd::fma(acc[j], scale, shift);
    float total = 0;
    for (int j = 0; j < kChains; ++j) total += Simd::first(acc[j]);
    sink[omp_get_thread_num() * 16] = total;
    flops = 2.0 * Simd::kLanes * kChains * static_cast<double>(kFmaSteps);
  }
  return flops;
}

void run_fma_peak(const Options& options) {
  std::vector<float> sink(static_cast<size_t>(16 * options.threads));
  const double flops = fma_chains(sink.data());
  const auto seconds = torus::bench::time_alternating({[&] { fma_chains(sink.data()); }}, options);
  torus::bench::report({"fma_peak", "fp32 FMA chains, no memory", options.threads,
                        torus::bench::summarize(torus::bench::throughput(seconds[0], flops, 1e9)),
                        "GFLOP/s", "", 0, {}});
}
#else
void run_fma_peak(const Options&) {}  // no AVX2/AVX-512 FMA in this build: no ceiling
#endif

void set_threads(int threads) {
  torus::cpu::set_num_threads(threads);  // Torus's pool, which oneDNN shares
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);  // OpenBLAS keeps a pool of its own
}

void run_problem(const Problem& p, const Options& options, uint32_t seed) {
  const Operands x = random_operands(p, seed);
  const double error = validate(p, x);
  std::vector<float> c(static_cast<size_t>(p.m * p.n));
  const auto seconds = torus::bench::time_alternating(
      {[&] { torus_gemm(p, x, c.data()); }, [&] { onednn_gemm(p, x, c.data()); },
       [&] { openblas_gemm(p, x, c.data()); }},
      options);
  const char* names[] = {"torus_gemm", "dnnl_sgemm", "openblas_sgemm"};
  // Each is compared with oneDNN, the backend Torus wraps; oneDNN with OpenBLAS.
  const int peer_of[] = {1, 2, 1};
  std::vector<std::vector<double>> rates;
  for (const auto& s : seconds) rates.push_back(torus::bench::throughput(s, p.flops(), 1e9));
  const std::string env = torus::bench::json_string(openblas_environment());
  const std::string core = torus::bench::json_string(openblas_get_corename());
  for (int i = 0; i < 3; ++i) {
    Measurement m{names[i], p.config(), options.threads, torus::bench::summarize(rates[i]), "GFLOP/s",
                  names[peer_of[i]], torus::bench::paired_ratio(rates[i], rates[peer_of[i]]),
                  {{"m", std::to_string(p.m)},
                   {"n", std::to_string(p.n)},
                   {"k", std::to_string(p.k)},
                   {"openblas_env", env},
                   {"openblas_core", core},
                   {"max_rel_error", torus::bench::json_number(error)}}};
    if (i == 0) m.extra.push_back({"target", "0.95"});  // Torus within 5% of the raw call
    torus::bench::report(m);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = torus::bench::parse_options(
      argc, argv, "fp32 GEMM GFLOP/s: torus::cpu::gemm, dnnl_sgemm and OpenBLAS cblas_sgemm, alternated.");
  set_threads(options.threads);
  std::fprintf(stderr, "gemm_bench: %d threads, %d reps, OpenBLAS core %s (%s)\n", options.threads,
               options.reps, openblas_get_corename(), openblas_environment().c_str());
  torus::bench::print_table_header();
  run_fma_peak(options);
  uint32_t seed = 1;
  for (const Problem& p : kProblems) run_problem(p, options, seed++);
  return 0;
}
