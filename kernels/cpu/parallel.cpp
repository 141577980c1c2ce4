// Thread-count policy for the shared OpenMP pool.
#include "kernels/cpu/parallel.h"

#include <atomic>
#include <cstdlib>
#include <thread>

#include "kernels/common/error.h"

namespace torus::cpu {
namespace {

int ranks_on_this_node() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"}) {
    if (const char* value = std::getenv(var)) {
      int n = std::atoi(value);
      if (n > 0) return n;
    }
  }
  return 1;
}

int default_threads() {
  if (const char* value = std::getenv("TORUS_NUM_THREADS")) {
    int n = std::atoi(value);
    if (n > 0) return n;
  }
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  int per_rank = (cores > 0 ? cores : 1) / ranks_on_this_node();
  return per_rank > 0 ? per_rank : 1;
}

std::atomic<int>& thread_setting() {
  static std::atomic<int> threads{[] {
    int n = default_threads();
    omp_set_num_threads(n);
    return n;
  }()};
  return threads;
}

}  // namespace

int num_threads() { return thread_setting().load(std::memory_order_relaxed); }

void set_num_threads(int threads) {
  TORUS_CHECK(threads > 0, "set_num_threads: thread count must be positive, got {}", threads);
  thread_setting().store(threads);
  omp_set_num_threads(threads);
}

}  // namespace torus::cpu
