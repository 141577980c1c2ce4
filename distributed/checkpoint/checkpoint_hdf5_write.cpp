// Writing checkpoint.h5 collectively (see checkpoint_hdf5.h). Every rank creates every
// dataset in the same order (HDF5's metadata calls are collective) and then writes, in
// one collective call per dataset, the elements it holds; a rank holding none of a
// tensor takes part with an empty selection.
#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/checkpoint/checkpoint_hdf5.h"
#include "distributed/checkpoint/checkpoint_hdf5_support.h"
#include "distributed/comm/mpi_error.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

using h5::Id;

// The group as an MPI communicator for MPI-IO (a duplicate of MPI_COMM_WORLD, which an MPI
// process group spans); none for a world of one outside MPI, which writes alone.
class Communicator {
 public:
  explicit Communicator(comm::ProcessGroup& group) {
    if (group.backend_name() != "mpi") {
      TORUS_CHECK(group.size() == 1, "checkpoint: an HDF5 save over {} ranks needs an MPI process group, not '{}'",
                  group.size(), group.backend_name());
      return;
    }
    TORUS_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    int rank = -1, size = 0;
    TORUS_MPI(MPI_Comm_rank(comm_, &rank));
    TORUS_MPI(MPI_Comm_size(comm_, &size));
    TORUS_CHECK(rank == group.rank() && size == group.size(),
                "checkpoint: the process group (rank {} of {}) is not MPI_COMM_WORLD (rank {} of {})", group.rank(),
                group.size(), rank, size);
  }
  ~Communicator() {
    // Freeing a valid duplicate cannot fail in a way a destructor could report.
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  bool parallel() const { return comm_ != MPI_COMM_NULL; }
  MPI_Comm get() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

Id dataspace(const Shape& shape, const std::string& path) {
  if (shape.empty()) return Id(TORUS_HDF5(path, H5Screate(H5S_SCALAR)));
  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  return Id(TORUS_HDF5(path, H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
}

// Adds elements [start, start + count) of the row-major flattening of `shape` to the
// selection of `space`: at most two blocks per dimension, each as long in its dimension
// as the range allows and whole in the dimensions after it.
void select_flat_range(hid_t space, const Shape& shape, int64_t start, int64_t count, const std::string& path) {
  if (count == 0) return;
  if (shape.empty()) {  // a scalar: its one element
    TORUS_HDF5(path, H5Sselect_all(space));
    return;
  }
  const size_t rank = shape.size();
  std::vector<int64_t> inner(rank, 1);  // elements per step of each dimension
  for (size_t k = rank - 1; k > 0; --k) inner[k - 1] = inner[k] * shape[k];
  std::vector<hsize_t> offset(rank), extent(rank);
  for (int64_t at = start, end = start + count; at < end;) {
    size_t k = 0;  // the outermost dimension in which a whole step starts here and fits
    while (at % inner[k] != 0 || end - at < inner[k]) ++k;
    const int64_t index = at / inner[k] % shape[k];
    const int64_t steps = std::min((end - at) / inner[k], shape[k] - index);
    for (size_t j = 0; j < rank; ++j) {
      offset[j] = static_cast<hsize_t>(at / inner[j] % shape[j]);
      extent[j] = j < k ? 1 : j == k ? static_cast<hsize_t>(steps) : static_cast<hsize_t>(shape[j]);
    }
    TORUS_HDF5(path, H5Sselect_hyperslab(space, H5S_SELECT_OR, offset.data(), nullptr, extent.data(), nullptr));
    at += steps * inner[k];
  }
}

// This rank's pieces by tensor, by start.
std::map<std::string, std::vector<std::pair<int64_t, Tensor>>> pieces_by_tensor(const CheckpointContent& content) {
  std::map<std::string, std::vector<std::pair<int64_t, Tensor>>> out;
  for (const auto& [key, values] : content.pieces) {
    const PieceKey piece = parse_piece_key(key, "checkpoint pieces");
    TORUS_ASSERT(content.tensors.count(piece.tensor), "checkpoint: piece {} of no logical tensor", key);
    if (values.numel() > 0) out[piece.tensor].emplace_back(piece.start, values.contiguous());
  }
  for (auto& [name, pieces] : out)
    std::sort(pieces.begin(), pieces.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

// One dataset, created by every rank, and this rank's pieces written into it. A union of
// hyperslabs is written in the file's row-major order, so the memory side is the pieces
// one after another by start.
void write_dataset(hid_t file, const std::string& name, const std::pair<DType, Shape>& spec,
                   const std::vector<std::pair<int64_t, Tensor>>& pieces, hid_t create, hid_t transfer,
                   const std::string& path) {
  const auto& [dtype, shape] = spec;
  const Id type = h5::file_type(dtype, path);
  const Id space = dataspace(shape, path);
  Id dataset(TORUS_HDF5(path, H5Dcreate2(file, name.c_str(), type.get(), space.get(), H5P_DEFAULT, create, H5P_DEFAULT)));
  TORUS_HDF5(path, H5Sselect_none(space.get()));
  int64_t total = 0;
  for (const auto& [start, values] : pieces) {
    TORUS_ASSERT(values.dtype() == dtype, "checkpoint: a piece of {} is {}, the tensor {}", name,
                 dtype_name(values.dtype()), dtype_name(dtype));
    select_flat_range(space.get(), shape, start, values.numel(), path);
    total += values.numel();
  }
  TORUS_ASSERT(TORUS_HDF5(path, H5Sget_select_npoints(space.get())) == total,
               "checkpoint: this rank's pieces of {} overlap", name);
  Tensor buffer = pieces.size() == 1 ? pieces.front().second : Tensor::empty({std::max<int64_t>(total, 1)}, dtype);
  if (pieces.size() > 1) {
    size_t at = 0;
    for (const auto& [start, values] : pieces) {
      std::memcpy(static_cast<char*>(buffer.raw_data()) + at, values.raw_data(), values.nbytes());
      at += values.nbytes();
    }
  }
  const hsize_t n = static_cast<hsize_t>(std::max<int64_t>(total, 1));
  Id memory(TORUS_HDF5(path, H5Screate_simple(1, &n, nullptr)));
  if (total == 0) TORUS_HDF5(path, H5Sselect_none(memory.get()));
  const Id in_memory = h5::memory_type(dtype, path);
  TORUS_HDF5(path, H5Dwrite(dataset.get(), in_memory.get(), memory.get(), space.get(), transfer, buffer.raw_data()));
}

}  // namespace

void write_hdf5_checkpoint(const fs::path& file, const CheckpointContent& content, comm::ProcessGroup& group) {
  const std::string path = file.string();
  const data::hdf5::QuietErrors quiet;
  const Communicator communicator(group);
  Id access(TORUS_HDF5(path, H5Pcreate(H5P_FILE_ACCESS)));
  Id transfer(TORUS_HDF5(path, H5Pcreate(H5P_DATASET_XFER)));
  if (communicator.parallel()) {
    TORUS_HDF5(path, H5Pset_fapl_mpio(access.get(), communicator.get(), MPI_INFO_NULL));
    // Metadata read and written by all ranks together, not by each on its own.
    TORUS_HDF5(path, H5Pset_all_coll_metadata_ops(access.get(), true));
    TORUS_HDF5(path, H5Pset_coll_metadata_write(access.get(), true));
    TORUS_HDF5(path, H5Pset_dxpl_mpio(transfer.get(), H5FD_MPIO_COLLECTIVE));
  }
  // No modification times in the object headers: the same state gives the same bytes.
  Id file_create(TORUS_HDF5(path, H5Pcreate(H5P_FILE_CREATE)));
  TORUS_HDF5(path, H5Pset_obj_track_times(file_create.get(), false));
  Id create(TORUS_HDF5(path, H5Pcreate(H5P_DATASET_CREATE)));
  TORUS_HDF5(path, H5Pset_obj_track_times(create.get(), false));
  TORUS_HDF5(path, H5Pset_fill_time(create.get(), H5D_FILL_TIME_NEVER));  // every element is written
  TORUS_HDF5(path, H5Pset_alloc_time(create.get(), H5D_ALLOC_TIME_EARLY));
  h5::File out(TORUS_HDF5(path, H5Fcreate(path.c_str(), H5F_ACC_TRUNC, file_create.get(), access.get())), path);
  const TrainingState& s = content.state;
  h5::write_attribute(out.get(), "format", std::string("torus-checkpoint"), path);
  h5::write_attribute(out.get(), "format_version", int64_t{kFormatVersion}, path);
  h5::write_attribute(out.get(), "torus_version", std::string(kTorusVersion), path);
  h5::write_attribute(out.get(), "step", s.step, path);
  h5::write_attribute(out.get(), "world_size", int64_t{s.world}, path);
  h5::write_attribute(out.get(), "zero_stage", int64_t{s.zero_stage}, path);
  h5::write_attribute(out.get(), "config", content.config_yaml, path);
  const auto pieces = pieces_by_tensor(content);
  const std::vector<std::pair<int64_t, Tensor>> none;
  for (const auto& [name, spec] : content.tensors) {  // sorted by name: the same order on every rank
    const auto mine = pieces.find(name);
    write_dataset(out.get(), name, spec, mine == pieces.end() ? none : mine->second, create.get(), transfer.get(), path);
  }
  out.close();
}

}  // namespace torus::checkpoint
