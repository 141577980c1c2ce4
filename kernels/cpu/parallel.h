// The one CPU thread pool: OpenMP, shared with oneDNN (which runs on OpenMP), so GEMM
// and our own loops never compete with a second pool for the same cores.
#pragma once

#include <cstdint>

#include <omp.h>

namespace torus::cpu {

// Threads used by kernels in this process. Defaults to the hardware threads divided by
// the ranks on this node (read from OMPI_COMM_WORLD_LOCAL_SIZE / SLURM_NTASKS_PER_NODE).
int num_threads();
void set_num_threads(int threads);

// Below this many elements of work, a loop runs on the calling thread: waking the pool
// costs more than it saves.
inline constexpr int64_t kParallelGrain = 32768;

// Runs body(begin, end) over [0, n) split into contiguous chunks, one per thread.
template <class Body>
void parallel_for(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  int threads = num_threads();
  // Nested calls (from inside another parallel region) run on the calling thread.
  if (threads <= 1 || n <= grain || omp_in_parallel()) {
    body(int64_t{0}, n);
    return;
  }
  int64_t max_chunks = (n + grain - 1) / grain;
  int chunks = static_cast<int>(max_chunks < threads ? max_chunks : threads);
#pragma omp parallel num_threads(chunks)
  {
    // Split by the threads actually granted, which may be fewer than asked for.
    const int64_t granted = omp_get_num_threads();
    const int64_t t = omp_get_thread_num();
    body(n * t / granted, n * (t + 1) / granted);
  }
}

// Chunks parallel_chunks splits n independent tasks into: one per thread, at most n, and 1
// inside another parallel region. Callers size per-chunk scratch buffers with it.
inline int task_chunks(int64_t n) {
  const int threads = num_threads();
  if (n <= 1 || threads <= 1 || omp_in_parallel()) return 1;
  return static_cast<int>(n < threads ? n : threads);
}

// Runs body(chunk, begin, end) over [0, n) split into task_chunks(n) contiguous chunks,
// chunk in [0, task_chunks(n)). For tasks that each run a single-threaded kernel, such as
// one small GEMM per image or batch entry: oneDNN's sgemm runs on the calling thread
// inside a parallel region, so many small products run side by side instead of each
// waking the whole pool for a few microseconds of work. The split depends only on n and
// the thread count, so results are reproducible at a given thread count.
template <class Body>
void parallel_chunks(int64_t n, const Body& body) {
  if (n <= 0) return;
  const int chunks = task_chunks(n);
  if (chunks == 1) {
    body(0, int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(chunks)
  {
    const int64_t granted = omp_get_num_threads();
    const int64_t t = omp_get_thread_num();
    // Fewer threads granted than asked: each takes the chunks t, t + granted, ...
    for (int64_t c = t; c < chunks; c += granted) body(static_cast<int>(c), n * c / chunks, n * (c + 1) / chunks);
  }
}

}  // namespace torus::cpu
