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

// Link-traversal callback: refusing makes any path through an external link fail.
herr_t refuse_external_link(const char*, const char*, const char*, const char*, unsigned*, hid_t, void*) { return -1; }

struct RootLink {
  std::string name;
  H5L_type_t type;
};

herr_t collect_link(hid_t, const char* name, const H5L_info_t* info, void* out) {
  static_cast<std::vector<RootLink>*>(out)->push_back({name, info->type});
  return 0;
}

// "other.h5:/weights" for an external link's target.
std::string external_target(hid_t file, const std::string& name, hid_t link_access, const std::string& path) {
  H5L_info_t info{};
  TORUS_HDF5(path, H5Lget_info(file, name.c_str(), &info, link_access));
  std::vector<char> value(info.u.val_size + 1, '\0');
  TORUS_HDF5(path, H5Lget_val(file, name.c_str(), value.data(), value.size(), link_access));
  const char* target_file = nullptr;
  const char* target_object = nullptr;
  unsigned flags = 0;
  TORUS_HDF5(path, H5Lunpack_elink_val(value.data(), info.u.val_size, &flags, &target_file, &target_object));
  return fmt::format("{}:{}", target_file, target_object);
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

Shape shape_of(hid_t dataset, const std::string& name, const std::string& path) {
  Id space(TORUS_HDF5(path, H5Dget_space(dataset)));
  const H5S_class_t space_class = TORUS_HDF5(path, H5Sget_simple_extent_type(space.get()));
  if (space_class == H5S_SCALAR) return {};
  if (space_class != H5S_SIMPLE) throw IOError(fmt::format("{}: dataset '{}' has no elements (a null dataspace)", path, name));
  const int rank = TORUS_HDF5(path, H5Sget_simple_extent_ndims(space.get()));
  if (rank > kMaxRank) throw IOError(fmt::format("{}: dataset '{}' has {} dimensions (at most {})", path, name, rank, kMaxRank));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  TORUS_HDF5(path, H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  return Shape(dims.begin(), dims.end());
}

// The data must be in this file (no virtual dataset, no external raw-data files) and, when
// stored uncompressed, fit in it.
void check_storage(hid_t dataset, const std::string& name, uint64_t bytes, uint64_t file_bytes, const std::string& path) {
  Id create(TORUS_HDF5(path, H5Dget_create_plist(dataset)));
  const H5D_layout_t layout = TORUS_HDF5(path, H5Pget_layout(create.get()));
  if (layout == H5D_VIRTUAL)
    throw IOError(fmt::format("{}: dataset '{}' is virtual (its data lives in other files); a checkpoint holds its own",
                              path, name));
  if (TORUS_HDF5(path, H5Pget_external_count(create.get())) > 0)
    throw IOError(fmt::format("{}: dataset '{}' keeps its data in external files; a checkpoint holds its own", path, name));
  if (layout != H5D_CHUNKED && bytes > file_bytes)
    throw IOError(fmt::format("{}: dataset '{}' claims {} bytes, more than the file's {}", path, name, bytes, file_bytes));
}

Tensor read_dataset(hid_t dataset, const std::string& name, uint64_t file_bytes, const std::string& path) {
  Id type(TORUS_HDF5(path, H5Dget_type(dataset)));
  const std::optional<DType> dtype = h5::dtype_of(type.get(), path);
  if (!dtype) throw IOError(fmt::format("{}: dataset '{}' holds values of a type Torus has no dtype for", path, name));
  const Shape shape = shape_of(dataset, name, path);
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d))
      throw IOError(fmt::format("{}: dataset '{}' is too large ({})", path, name, shape_str(shape)));
    numel *= static_cast<uint64_t>(d);
  }
  check_storage(dataset, name, numel * dtype_size(*dtype), file_bytes, path);
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
  Id link_access(TORUS_HDF5(path, H5Pcreate(H5P_LINK_ACCESS)));
  TORUS_HDF5(path, H5Pset_elink_cb(link_access.get(), refuse_external_link, nullptr));
  check_root_attributes(in.get(), step, path);
  std::vector<RootLink> links;
  TORUS_HDF5(path, H5Literate(in.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link, &links));
  NamedTensors out;
  for (const RootLink& link : links) {
    if (link.type == H5L_TYPE_EXTERNAL)
      throw IOError(fmt::format("{}: '{}' is an external link (to {}); a checkpoint holds its tensors itself", path,
                                link.name, external_target(in.get(), link.name, link_access.get(), path)));
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
