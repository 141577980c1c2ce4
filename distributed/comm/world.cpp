// World detection from the launcher's environment.
#include "distributed/comm/world.h"

#include <cstdlib>
#include <string>

#include "distributed/comm/local_process_group.h"
#include "distributed/comm/mpi_process_group.h"

namespace torus::comm {

namespace {

std::optional<int> env_int(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  TORUS_CHECK(*end == '\0' && value >= 0 && value <= 1 << 30,
              "environment variable {}={} is not a rank or size", name, text);
  return static_cast<int>(value);
}

std::optional<WorldInfo> world_from(const char* rank_var, const char* size_var,
                                    const char* local_rank_var, const char* local_size_var) {
  const std::optional<int> size = env_int(size_var);
  if (!size) return std::nullopt;
  WorldInfo world;
  world.size = *size;
  world.rank = env_int(rank_var).value_or(0);
  world.local_rank = env_int(local_rank_var).value_or(0);
  world.local_size = local_size_var ? env_int(local_size_var).value_or(0) : 0;
  TORUS_CHECK(world.size >= 1 && world.rank < world.size,
              "environment: rank {} ({}) is not below the world size {} ({})", world.rank,
              rank_var, world.size, size_var);
  world.host = local_host_name();
  return world;
}

}  // namespace

std::optional<WorldInfo> world_from_environment() {
  if (auto world = world_from("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                              "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"))
    return world;
  return world_from("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr);
}

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

std::unique_ptr<ProcessGroup> make_process_group(const ProcessGroupOptions& options) {
  if (launched_by_mpi()) {
    ProcessGroupOptions mpi = options;
    if (const char* shm = std::getenv("TORUS_SHM")) mpi.shared_memory = std::string(shm) != "0";
    if (const std::optional<int> min_bytes = env_int("TORUS_SHM_MIN_BYTES")) mpi.shm_min_bytes = static_cast<size_t>(*min_bytes);
    if (const std::optional<int> chunk = env_int("TORUS_SHM_CHUNK_BYTES")) mpi.shm_chunk_bytes = static_cast<size_t>(*chunk);
    if (const std::optional<int> inline_max = env_int("TORUS_SHM_INLINE_MAX_BYTES"))
      mpi.shm_inline_max_bytes = static_cast<size_t>(*inline_max);
    if (const char* single = std::getenv("TORUS_SHM_SINGLE_COPY")) mpi.shm_single_copy = std::string(single) != "0";
    if (const std::optional<int> single_min = env_int("TORUS_SHM_SINGLE_COPY_MIN_BYTES"))
      mpi.shm_single_copy_min_bytes = static_cast<size_t>(*single_min);
    if (const std::optional<int> single_max = env_int("TORUS_SHM_SINGLE_COPY_MAX_BYTES"))
      mpi.shm_single_copy_max_bytes = static_cast<size_t>(*single_max);
    return std::make_unique<MpiProcessGroup>(mpi);
  }
  return std::make_unique<LocalProcessGroup>(options);
}

}  // namespace torus::comm
