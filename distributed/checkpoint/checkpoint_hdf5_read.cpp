// Reading checkpoint.h5 whole in one process (see checkpoint_hdf5.h). The file is
// untrusted: every root link must be a dataset stored in this file, its type one Torus has
// a dtype for, and its size within the file's before anything is allocated.
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/checkpoint/checkpoint_hdf5.h"
#include "distributed/checkpoint/checkpoint_hdf5_support.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

using h5::Id;

constexpr int kMaxRank = 8;

struct RootLink {
  std::string name;
  H5L_type_t type;
};

herr_t collect_link(hid_t, const char* name, const H5L_info_t* info, void* out) {
  static_cast<std::vector<RootLink>*>(out)->push_back({name, info->type});
  return 0;
}

void check_root_attributes(hid_t file, int64_t step, const std::string& path) {
  const std::string format = h5::read_string_attribute(file, "format", path);
  if (format != "torus-checkpoint")
    throw IOError(fmt::format("{}: not a Torus checkpoint file (root attribute \"format\" is \"{}\")", path, format));
  const int64_t version = h5::read_int_attribute(file, "format_version", path);
  if (version < 1 || version > kFormatVersion)
    throw IOError(fmt::format("{}: format version {}; this Torus ({}) reads versions 1 to {}", path, version,
                              kTorusVersion, kFormatVersion));
  const int64_t saved = h5::read_int_attribute(file, "step", path);
  if (saved != step)
    throw IOError(fmt::format("{}: holds step {}, but {} says step {}", path, saved, kStateFile, step));
}

Tensor read_dataset(hid_t dataset, const std::string& name, uint64_t file_bytes, const std::string& path) {
  Id type(TORUS_HDF5(path, H5Dget_type(dataset)));
  const std::optional<DType> dtype = h5::dtype_of(type.get(), path);
  if (!dtype) throw IOError(fmt::format("{}: dataset '{}' holds values of a type Torus has no dtype for", path, name));
  const Shape shape = h5::shape_of(dataset, name, kMaxRank, path);
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d))
      throw IOError(fmt::format("{}: dataset '{}' is too large ({})", path, name, shape_str(shape)));
    numel *= static_cast<uint64_t>(d);
  }
  h5::check_storage(dataset, name, numel * dtype_size(*dtype), file_bytes, path);
  Tensor out = Tensor::empty(shape, *dtype);
  if (numel == 0) return out;
  const Id in_memory = h5::memory_type(*dtype, path);
  TORUS_HDF5(path, H5Dread(dataset, in_memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.raw_data()));
  return out;
}

}  // namespace

NamedTensors read_hdf5_checkpoint(const fs::path& file, int64_t step) {
  const std::string path = file.string();
  const data::hdf5::QuietErrors quiet;
  const uint64_t file_bytes = fs::file_size(file);
  h5::File in(TORUS_HDF5(path, H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)), path);
  const Id link_access = h5::refusing_external_links(path);
  check_root_attributes(in.get(), step, path);
  std::vector<RootLink> links;
  TORUS_HDF5(path, H5Literate(in.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link, &links));
  NamedTensors out;
  for (const RootLink& link : links) {
    if (link.type == H5L_TYPE_EXTERNAL)
      throw IOError(fmt::format("{}: '{}' is an external link (to {}); a checkpoint holds its tensors itself", path,
                                link.name, h5::external_target(in.get(), link.name, link_access.get(), path)));
    if (link.type != H5L_TYPE_HARD)
      throw IOError(fmt::format("{}: '{}' is a soft or user-defined link, not a dataset", path, link.name));
    Id object(TORUS_HDF5(path, H5Oopen(in.get(), link.name.c_str(), link_access.get())));
    if (TORUS_HDF5(path, H5Iget_type(object.get())) != H5I_DATASET)
      throw IOError(fmt::format("{}: '{}' is not a dataset (a checkpoint holds one dataset per tensor)", path, link.name));
    out.emplace_back(link.name, read_dataset(object.get(), link.name, file_bytes, path));
  }
  in.close();
  return out;
}

}  // namespace torus::checkpoint
