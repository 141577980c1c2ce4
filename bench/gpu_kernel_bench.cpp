// GPU kernel roofline benchmark: the device-to-device copy bandwidth as the memory roof,
// then each memory-bound kernel of kernels/cuda at GPT-2 small sizes (B 8, T 1024, C 768,
// H 12, V 50257) as bytes moved / time against that roof (target >= 80%), and cuBLAS GEMM
// (f32, tf32, bf16) as FLOP/s against the device's nominal dense peak where known.
// Correctness is the GPU tests' job (bench/run_gpu_bench.sh runs them first).
//
//   gpu_kernel_bench [--reps N] [--json FILE]
//   gpu_kernel_bench --device        (only says which device would be used, or why none)
//
// A table on stdout; with --json, one JSON document with every measurement. Exits 77 (the
// CTest / automake "skipped" code) with the reason on stderr when no CUDA device is usable.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "kernels/common/error.h"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/bias_gelu.h"
#include "kernels/cuda/broadcast.h"
#include "kernels/cuda/causal_softmax.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/device_context.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/reduce_sum.h"
#include "kernels/cuda/softmax.h"

namespace torus::cuda::bench {
namespace {

using torus::bench::json_number;
using torus::bench::json_string;
using torus::bench::Summary;
using torus::bench::summarize;

constexpr int kExitSkipped = 77;
constexpr double kRooflineTarget = 0.8;

// GPT-2 small, batch 8 at full context.
constexpr int64_t kBatch = 8, kSeq = 1024, kModel = 768, kHeads = 12, kVocab = 50257;
constexpr int64_t kTokens = kBatch * kSeq;
constexpr int64_t kParams = 124'439'808;  // GPT-2 small's parameter count

// Device memory, filled with the byte 0x3c (f32 ~0.0115, bf16 ~0.0115: finite, harmless).
class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes) : bytes_(bytes) {
    TORUS_CUDA(cudaMalloc(&ptr_, bytes));
    TORUS_CUDA(cudaMemset(ptr_, 0x3c, bytes));
  }
  ~DeviceMemory() { (void)cudaFree(ptr_); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  template <class T = float>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

std::unique_ptr<DeviceMemory> floats(int64_t n) { return std::make_unique<DeviceMemory>(size_t(n) * sizeof(float)); }

// Token ids / targets in [0, vocab), uploaded once.
std::unique_ptr<DeviceMemory> indices(int64_t n, int64_t vocab) {
  std::vector<int64_t> host(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) host[static_cast<size_t>(i)] = (i * 7919) % vocab;
  auto memory = std::make_unique<DeviceMemory>(host.size() * sizeof(int64_t));
  TORUS_CUDA(cudaMemcpy(memory->as<void>(), host.data(), memory->bytes(), cudaMemcpyHostToDevice));
  return memory;
}

class EventTimer {
 public:
  explicit EventTimer(cudaStream_t stream) : stream_(stream) {
    TORUS_CUDA(cudaEventCreate(&start_));
    TORUS_CUDA(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    (void)cudaEventDestroy(start_);
    (void)cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // Seconds per call of `fn` over `iterations` back-to-back calls on the stream.
  double seconds_per_call(const std::function<void()>& fn, int iterations) {
    TORUS_CUDA(cudaEventRecord(start_, stream_));
    for (int i = 0; i < iterations; ++i) fn();
    TORUS_CUDA(cudaEventRecord(stop_, stream_));
    TORUS_CUDA(cudaEventSynchronize(stop_));
    float ms = 0;
    TORUS_CUDA(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3 / iterations;
  }

  // Warm-up, then enough calls per repetition to last >= 2 ms (launch gaps and event
  // resolution then cost < 1%), `reps` repetitions.
  std::vector<double> time(const std::function<void()>& fn, int reps) {
    for (int i = 0; i < 3; ++i) fn();
    const double once = seconds_per_call(fn, 1);
    const int iterations = static_cast<int>(std::clamp(2e-3 / std::max(once, 1e-7), 1.0, 1000.0));
    std::vector<double> seconds;
    for (int r = 0; r < reps; ++r) seconds.push_back(seconds_per_call(fn, iterations));
    return seconds;
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

struct Row {
  std::string name, config;
  double work = 0;       // bytes moved or FLOPs per call
  Summary seconds;       // per call
  double rate = 0;       // work / median seconds: GB/s or TFLOP/s
  std::optional<double> roof;  // the same unit: copy GB/s or the nominal peak
  bool memory_bound = true;
};

double fraction(const Row& r) { return r.roof ? r.rate / *r.roof : 0.0; }

// Nominal dense peaks (TFLOP/s) of the GPUs we know, by name: f32 (CUDA cores), tf32, bf16
// (tensor cores, without sparsity). Unknown GPUs get none (the table says "n/a").
struct Peaks {
  double f32 = 0, tf32 = 0, bf16 = 0;
};
std::optional<Peaks> nominal_peaks(std::string_view device) {
  if (device.find("H200") != std::string_view::npos || device.find("H100 SXM") != std::string_view::npos ||
      device.find("H100 80GB HBM3") != std::string_view::npos)
    return Peaks{67.0, 494.7, 989.4};
  if (device.find("A100") != std::string_view::npos) return Peaks{19.5, 156.0, 312.0};
  return std::nullopt;
}

class Bench {
 public:
  explicit Bench(int reps) : reps_(reps) {
    TORUS_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    timer_ = std::make_unique<EventTimer>(stream_);
  }
  ~Bench() {
    timer_.reset();
    (void)cudaStreamDestroy(stream_);
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  cudaStream_t stream() const { return stream_; }
  const std::vector<Row>& rows() const { return rows_; }
  double copy_gbs() const { return copy_gbs_; }

  // The roof: best of the repetitions of a large D2D copy (read + write counted).
  void copy_bandwidth() {
    const int64_t bytes = int64_t{1} << 30;
    DeviceMemory a(static_cast<size_t>(bytes)), b(static_cast<size_t>(bytes));
    const std::vector<double> s = timer_->time(
        [&] { TORUS_CUDA(cudaMemcpyAsync(b.as<void>(), a.as<void>(), bytes, cudaMemcpyDeviceToDevice, stream_)); },
        reps_);
    const Summary t = summarize(s);
    copy_gbs_ = 2.0 * bytes / t.min / 1e9;
    rows_.push_back({"d2d_copy", "1 GiB, best of " + std::to_string(reps_), 2.0 * bytes, t, copy_gbs_, std::nullopt});
  }

  void memory_bound(const std::string& name, const std::string& config, double bytes,
                    const std::function<void()>& fn) {
    const Summary t = summarize(timer_->time(fn, reps_));
    rows_.push_back({name, config, bytes, t, bytes / t.median / 1e9, copy_gbs_});
  }

  void compute_bound(const std::string& name, const std::string& config, double flops, std::optional<double> peak,
                     const std::function<void()>& fn) {
    const Summary t = summarize(timer_->time(fn, reps_));
    Row row{name, config, flops, t, flops / t.median / 1e12, peak};
    row.memory_bound = false;
    rows_.push_back(row);
  }

 private:
  int reps_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<EventTimer> timer_;
  std::vector<Row> rows_;
  double copy_gbs_ = 0;
};

std::string shape(std::initializer_list<int64_t> dims) {
  std::string out = "(";
  for (const int64_t d : dims) out += (out.size() > 1 ? ", " : "") + std::to_string(d);
  return out + ")";
}

void memory_bound_kernels(Bench& bench) {
  cudaStream_t s = bench.stream();
  constexpr double f = sizeof(float);
  {  // binary add, same shape: the MLP's (B T, 4C) activations
    const int64_t n = kTokens * 4 * kModel;
    auto a = floats(n), b = floats(n), out = floats(n);
    const int64_t dims[] = {kTokens, 4 * kModel};
    const BroadcastLayout layout = broadcast_layout(dims, dims);
    bench.memory_bound("add_fwd", shape({kTokens, 4 * kModel}), 3 * n * f,
                       [&] { binary_forward(BinaryOp::add, a->as(), b->as(), out->as(), layout, s); });
  }
  {  // sum over the last dim
    const int64_t rows = kTokens, cols = 4 * kModel;
    auto in = floats(rows * cols), out = floats(rows);
    bench.memory_bound("sum_last_dim_fwd", shape({rows, cols}), (rows * cols + rows) * f,
                       [&] { sum_last_dim_forward(in->as(), out->as(), rows, cols, s); });
  }
  {  // softmax over attention rows (B H T, T)
    const int64_t rows = kBatch * kHeads * kSeq, cols = kSeq, n = rows * cols;
    auto x = floats(n), y = floats(n), g = floats(n), gx = floats(n);
    bench.memory_bound("softmax_fwd", shape({rows, cols}), 2 * n * f,
                       [&] { softmax_forward(x->as(), y->as(), rows, cols, false, s); });
    bench.memory_bound("softmax_bwd", shape({rows, cols}), 3 * n * f,
                       [&] { softmax_backward(y->as(), g->as(), gx->as(), rows, cols, false, s); });
    // Causal: row i reads i + 1 of T columns and writes all T.
    const double reads = double(kBatch * kHeads) * kSeq * (kSeq + 1) / 2;
    bench.memory_bound("causal_softmax_fwd", shape({kBatch * kHeads, kSeq, kSeq}), (reads + n) * f,
                       [&] { causal_softmax_forward(x->as(), y->as(), kBatch * kHeads, kSeq, 0.125f, s); });
    bench.memory_bound("causal_softmax_bwd", shape({kBatch * kHeads, kSeq, kSeq}), (2 * reads + n) * f,
                       [&] { causal_softmax_backward(y->as(), g->as(), gx->as(), kBatch * kHeads, kSeq, 0.125f, s); });
  }
  {  // LayerNorm (B T, C)
    const int64_t rows = kTokens, cols = kModel, n = rows * cols;
    auto x = floats(n), w = floats(cols), b = floats(cols), y = floats(n), mean = floats(rows), rstd = floats(rows);
    auto gy = floats(n), gx = floats(n), gw = floats(cols), gb = floats(cols);
    bench.memory_bound("layer_norm_fwd", shape({rows, cols}), (2 * n + 2 * cols + 2 * rows) * f, [&] {
      layer_norm_forward(x->as(), w->as(), b->as(), y->as(), mean->as(), rstd->as(), rows, cols, 1e-5f, s);
    });
    bench.memory_bound("layer_norm_bwd", shape({rows, cols}), (3 * n + 3 * cols + 2 * rows) * f, [&] {
      layer_norm_backward(x->as(), w->as(), mean->as(), rstd->as(), gy->as(), gx->as(), gw->as(), gb->as(), rows,
                          cols, s);
    });
  }
  {  // bias + GELU on the MLP's (B T, 4C)
    const int64_t rows = kTokens, cols = 4 * kModel, n = rows * cols;
    auto x = floats(n), b = floats(cols), y = floats(n);
    bench.memory_bound("bias_gelu_fwd", shape({rows, cols}), (2 * n + cols) * f,
                       [&] { bias_gelu_forward(x->as(), b->as(), y->as(), rows, cols, true, s); });
  }
  {  // cross-entropy over the vocabulary (B T, V)
    const int64_t rows = kTokens, classes = kVocab;
    auto logits = floats(rows * classes), lse = floats(rows), row_loss = floats(rows), loss = floats(1);
    auto target = indices(rows, classes);
    DeviceMemory status(2 * sizeof(int64_t));
    bench.memory_bound("cross_entropy_fwd", shape({rows, classes}), (rows * classes + 2 * rows) * f + rows * 8.0, [&] {
      cross_entropy_forward(logits->as(), target->as<int64_t>(), lse->as(), row_loss->as(), loss->as(),
                            status.as<int64_t>(), rows, classes, -100, 0.0f, s);
    });
  }
  {  // AdamW over all of GPT-2 small's parameters: read p, g, m, v; write p, m, v
    const int64_t n = kParams;
    auto p = floats(n), g = floats(n), m = floats(n), v = floats(n);
    const AdamWStep step{};
    bench.memory_bound("adamw_step", shape({n}), 7 * n * f,
                       [&] { adamw_step(p->as(), g->as(), m->as(), v->as(), n, step, nullptr, s); });
  }
  {  // token embedding: gather (B T) rows of (V, C)
    const int64_t n = kTokens, dim = kModel;
    auto weight = floats(kVocab * dim), out = floats(n * dim);
    auto index = indices(n, kVocab);
    bench.memory_bound("embedding_fwd", shape({n, dim}), 2 * n * dim * f + n * 8.0, [&] {
      embedding_forward(weight->as(), index->as<int64_t>(), out->as(), nullptr, n, kVocab, dim, s);
    });
  }
  {  // dropout on the residual stream (B T, C), no mask written
    const int64_t n = kTokens * kModel;
    auto x = floats(n), y = floats(n);
    bench.memory_bound("dropout_fwd", shape({kTokens, kModel}), 2 * n * f,
                       [&] { dropout_forward(x->as(), y->as(), nullptr, n, 0.1, 1234, 0, s); });
  }
}

void gemms(Bench& bench, const std::optional<Peaks>& peaks) {
  BlasHandles handles(bench.stream());
  // The MLP's first product, y (B T, 4C) = x (B T, C) · Wᵀ, and a square one.
  const struct {
    int64_t m, n, k;
  } shapes[] = {{kTokens, 4 * kModel, kModel}, {4096, 4096, 4096}};
  for (const auto& sh : shapes) {
    const GemmShape g{.trans_a = false, .trans_b = true, .m = sh.m, .n = sh.n, .k = sh.k, .lda = sh.k, .ldb = sh.k,
                      .ldc = sh.n};
    const double flops = 2.0 * sh.m * sh.n * sh.k;
    const std::string config =
        "m " + std::to_string(sh.m) + " n " + std::to_string(sh.n) + " k " + std::to_string(sh.k);
    auto a = floats(sh.m * sh.k), b = floats(sh.n * sh.k), c = floats(sh.m * sh.n);
    const auto peak = [&](double Peaks::*which) {
      return peaks ? std::optional<double>((*peaks).*which) : std::nullopt;
    };
    bench.compute_bound("gemm_f32", config, flops, peak(&Peaks::f32),
                        [&] { gemm(handles, g, 1.0f, a->as(), b->as(), 0.0f, c->as(), GemmMath::f32); });
    bench.compute_bound("gemm_tf32", config, flops, peak(&Peaks::tf32),
                        [&] { gemm(handles, g, 1.0f, a->as(), b->as(), 0.0f, c->as(), GemmMath::tf32); });
    const GemmTypes bf16{BlasDtype::bf16, BlasDtype::bf16};
    bench.compute_bound("gemm_bf16", config, flops, peak(&Peaks::bf16), [&] {
      gemm(handles, g, bf16, 1.0f, a->as<void>(), b->as<void>(), 0.0f, c->as<void>(), GemmMath::f32);
    });
  }
}

void print_table(const Bench& bench, const std::string& device) {
  std::printf("GPU kernel roofline on %s; memory roof: D2D copy %.0f GB/s (target >= %.0f%% of it)\n\n",
              device.c_str(), bench.copy_gbs(), 100 * kRooflineTarget);
  std::printf("| %-20s | %-22s | %10s | %15s | %10s | %8s | %-6s |\n", "kernel", "shape", "median us", "min-max us",
              "rate", "of roof", "target");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(22, '-').c_str(), std::string(24, '-').c_str(),
              std::string(12, '-').c_str(), std::string(17, '-').c_str(), std::string(12, '-').c_str(),
              std::string(10, '-').c_str(), std::string(8, '-').c_str());
  for (const Row& r : bench.rows()) {
    char rate[32], spread[40], of_roof[16];
    std::snprintf(rate, sizeof rate, r.memory_bound ? "%.0f GB/s" : "%.1f TF/s", r.rate);
    std::snprintf(spread, sizeof spread, "%.1f-%.1f", r.seconds.min * 1e6, r.seconds.max * 1e6);
    if (r.roof) std::snprintf(of_roof, sizeof of_roof, "%.0f%%", 100 * fraction(r));
    else std::snprintf(of_roof, sizeof of_roof, "%s", r.name == "d2d_copy" ? "roof" : "n/a");
    const char* verdict = !r.roof || !r.memory_bound ? "" : fraction(r) >= kRooflineTarget ? "met" : "MISSED";
    std::printf("| %-20s | %-22s | %10.1f | %15s | %10s | %8s | %-6s |\n", r.name.c_str(), r.config.c_str(),
                r.seconds.median * 1e6, spread, rate, of_roof, verdict);
  }
}

void write_json(const Bench& bench, const std::string& device, int reps, const std::string& path) {
  std::ofstream out(path);
  if (!out) throw Error("gpu_kernel_bench: cannot write " + path);
  out << "{\"device\": " << json_string(device) << ", \"reps\": " << reps
      << ", \"copy_gbs\": " << json_number(bench.copy_gbs())
      << ", \"roofline_target\": " << json_number(kRooflineTarget)
      << ",\n \"measurements\": [";
  bool first = true;
  for (const Row& r : bench.rows()) {
    out << (first ? "\n  " : ",\n  ") << "{\"name\": " << json_string(r.name)
        << ", \"config\": " << json_string(r.config)
        << ", \"kind\": " << json_string(r.memory_bound ? "memory" : "compute")
        << ", \"work\": " << json_number(r.work) << ", \"work_unit\": " << json_string(r.memory_bound ? "B" : "FLOP")
        << ", \"median_s\": " << json_number(r.seconds.median) << ", \"min_s\": " << json_number(r.seconds.min)
        << ", \"max_s\": " << json_number(r.seconds.max) << ", \"rate\": " << json_number(r.rate)
        << ", \"unit\": " << json_string(r.memory_bound ? "GB/s" : "TFLOP/s")
        << ", \"roof\": " << (r.roof ? json_number(*r.roof) : "null")
        << ", \"fraction_of_roof\": " << (r.roof ? json_number(fraction(r)) : "null") << "}";
    first = false;
  }
  out << "\n]}\n";
  if (!out) throw Error("gpu_kernel_bench: error writing " + path);
}

int run(int argc, char** argv) {
  int reps = 20;
  std::string json;
  bool device_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--device") {
      device_only = true;
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(5, std::atoi(argv[++i]));
    } else if (arg == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--reps N] [--json FILE] | --device\n", argv[0]);
      return 2;
    }
  }
  if (const std::string why = why_no_device(); !why.empty()) {
    std::fprintf(stderr, "gpu_kernel_bench: %s; nothing timed\n", why.c_str());
    return kExitSkipped;
  }
  cudaDeviceProp prop{};
  TORUS_CUDA(cudaGetDeviceProperties(&prop, 0));
  const std::string device = std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                             std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
                             std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
  if (device_only) {
    std::printf("%s\n", device.c_str());
    return 0;
  }
  Bench bench(reps);
  bench.copy_bandwidth();
  memory_bound_kernels(bench);
  gemms(bench, nominal_peaks(prop.name));
  print_table(bench, device);
  if (!json.empty()) write_json(bench, device, reps, json);
  return 0;
}

}  // namespace
}  // namespace torus::cuda::bench

int main(int argc, char** argv) {
  try {
    return torus::cuda::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_kernel_bench: %s\n", e.what());
    return 1;
  }
}
