// Launch-configuration arithmetic for the CUDA kernels, host-only and constexpr so it is
// unit-tested without a GPU (tests/cuda_launch_config_test.cpp). Every kernel's launcher
// takes its grid and block from here, so the kernels and their tests agree on the shapes.
#pragma once

#include <algorithm>
#include <cstdint>

namespace torus::cuda {

inline constexpr int kWarpSize = 32;
inline constexpr int kMaxThreadsPerBlock = 1024;
// The grid-x limit of every GPU since compute capability 3.0.
inline constexpr int64_t kMaxGridX = (int64_t{1} << 31) - 1;
// Grid-stride kernels stop adding blocks here: 132 SMs (H100/H200) x 16 resident blocks of
// 128 threads, rounded up; more blocks only add scheduling work.
inline constexpr int64_t kDefaultMaxBlocks = 4096;

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t multiple) { return ceil_div(a, multiple) * multiple; }

// Whether a float4-style access of `width` elements of `element_bytes` each is possible
// at `address` (the hardware needs natural alignment of the whole vector).
constexpr bool is_aligned(uintptr_t address, int width, int element_bytes) {
  return address % static_cast<uintptr_t>(width * element_bytes) == 0;
}

struct LaunchConfig1D {
  int64_t grid = 0;  // blocks; 0 when there is nothing to do (launchers then skip the launch)
  int block = 0;     // threads per block
  // Elements each thread touches per grid-stride step (the vector width).
  int vector_width = 1;
};

// n elements, `vector_width` of them per thread per step (the last vector may be partial:
// kernels finish the tail element by element), capped at max_blocks with the kernel's
// grid-stride loop covering the rest.
constexpr LaunchConfig1D elementwise_config(int64_t n, int vector_width = 1, int block = 256,
                                            int64_t max_blocks = kDefaultMaxBlocks) {
  LaunchConfig1D config;
  config.block = block;
  config.vector_width = vector_width;
  if (n <= 0) return config;
  const int64_t vectors = ceil_div(n, vector_width);
  config.grid = std::min({ceil_div(vectors, block), max_blocks, kMaxGridX});
  return config;
}

// Row kernels (softmax, LayerNorm, sum over the last dim) over `rows` rows of `cols`
// elements: a warp per row while a row fits in a few elements per lane (cols <= 1024),
// several rows per block so blocks stay 128 threads; otherwise a block per row, sized to
// the row (a multiple of the warp, at most 1024) and striding over it.
struct RowLaunchConfig {
  int64_t grid = 0;
  int block = 0;
  int rows_per_block = 1;
  bool warp_per_row = false;
};

inline constexpr int64_t kWarpPerRowMaxCols = 1024;
inline constexpr int kRowBlockThreads = 128;  // warp-per-row: 4 rows per block
inline constexpr int kBlockPerRowMaxThreads = 512;

constexpr RowLaunchConfig row_config(int64_t rows, int64_t cols) {
  RowLaunchConfig config;
  if (rows <= 0) return config;
  if (cols <= kWarpPerRowMaxCols) {
    config.warp_per_row = true;
    config.block = kRowBlockThreads;
    config.rows_per_block = kRowBlockThreads / kWarpSize;
    config.grid = ceil_div(rows, config.rows_per_block);
  } else {
    config.block = static_cast<int>(
        std::min<int64_t>(round_up(ceil_div(cols, 4), kWarpSize), kBlockPerRowMaxThreads));
    config.grid = rows;
  }
  config.grid = std::min(config.grid, kMaxGridX);
  return config;
}

// Column kernels (LayerNorm's weight/bias gradient, sum to a broadcast shape): a thread per
// output element, 256 per block.
constexpr LaunchConfig1D per_output_config(int64_t outputs, int block = 256) {
  LaunchConfig1D config;
  config.block = block;
  if (outputs > 0) config.grid = std::min(ceil_div(outputs, block), kMaxGridX);
  return config;
}

}  // namespace torus::cuda
