// checkpoint.h5, the HDF5 format's one tensor file (see checkpoint.h): written by every
// rank at once through parallel HDF5 over MPI-IO (a world of one outside MPI writes it
// alone), read whole by any single process. h5py and h5dump read it as it is.
#pragma once

#include <filesystem>

#include "distributed/checkpoint/checkpoint_write.h"

namespace torus::checkpoint {

// Collective over `group`: creates `file` with one dataset per content.tensors entry (its
// real shape and dtype), each rank writing the element ranges of content.pieces, and root
// attributes for the state and the config.
void write_hdf5_checkpoint(const std::filesystem::path& file, const CheckpointContent& content,
                           comm::ProcessGroup& group);

// Every dataset of `file`, whole, by name. Refuses anything that is not a plain dataset
// stored in the file itself (external, soft and virtual links or storage), types Torus
// has no dtype for, and a file whose root attributes do not say step `step`.
NamedTensors read_hdf5_checkpoint(const std::filesystem::path& file, int64_t step);

}  // namespace torus::checkpoint
