// Which process group this process belongs to: under mpirun (or srun with PMIx) the MPI
// world, otherwise a world of one.
#pragma once

#include <memory>
#include <optional>

#include "distributed/comm/process_group.h"

namespace torus::comm {

// Rank, size and local rank as the launcher put them in the environment (Open MPI's
// OMPI_COMM_WORLD_*, else Slurm's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), without
// starting MPI (local_size 0 where the launcher does not give it, as Slurm's "2(x3)" lists);
// nullopt when this process was not started as a rank of a multi-process job.
// Useful before the process group exists (e.g. threads per rank from the local size).
std::optional<WorldInfo> world_from_environment();

// True when the process was started by an MPI launcher (mpirun/mpiexec, or srun --mpi=pmix).
bool launched_by_mpi();

// The MPI process group when launched_by_mpi(), else a LocalProcessGroup.
std::unique_ptr<ProcessGroup> make_process_group(const ProcessGroupOptions& options = {});

}  // namespace torus::comm
