// Listing and reading any HDF5 file's datasets (see checkpoint_hdf5_datasets.h).
#include "distributed/checkpoint/checkpoint_hdf5_datasets.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint_hdf5_support.h"
#include "framework/io/durable_file.h"
#include "framework/io/safetensors.h"
#include "kernels/common/error.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;
namespace {

using h5::Id;

// The most bytes read in one H5Dread (more when a single element is larger).
constexpr uint64_t kBlockBytes = 32ULL << 20;

struct Link {
  std::string name;
  H5L_type_t type;
};

herr_t collect_link(hid_t, const char* name, const H5L_info_t* info, void* out) {
  static_cast<std::vector<Link>*>(out)->push_back({name, info->type});
  return 0;
}

herr_t collect_attribute(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

const char* class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER: return "INTEGER";
    case H5T_FLOAT: return "FLOAT";
    case H5T_TIME: return "TIME";
    case H5T_STRING: return "STRING";
    case H5T_BITFIELD: return "BITFIELD";
    case H5T_OPAQUE: return "OPAQUE";
    case H5T_COMPOUND: return "COMPOUND";
    case H5T_REFERENCE: return "REFERENCE";
    case H5T_ENUM: return "ENUM";
    case H5T_VLEN: return "VLEN";
    case H5T_ARRAY: return "ARRAY";
    default: return "UNKNOWN";
  }
}

// Safetensors' name for integers and IEEE-sized floats, else the HDF5 class.
std::string dtype_name(hid_t type, H5T_class_t type_class, size_t size, const std::optional<DType>& dtype,
                       const std::string& path) {
  const bool power_of_two = size == 1 || size == 2 || size == 4 || size == 8;
  if (type_class == H5T_INTEGER && power_of_two) {
    const bool is_signed = TORUS_HDF5(path, H5Tget_sign(type)) == H5T_SGN_2;
    return fmt::format("{}{}", is_signed ? "I" : "U", size * 8);
  }
  if (type_class == H5T_FLOAT && dtype) return io::safetensors_dtype_name(*dtype);
  return class_name(type_class);
}

// Numbers are read little-endian whatever the file's order; other types byte for byte.
Id memory_type_of(hid_t type, const std::string& path) {
  Id copy(TORUS_HDF5(path, H5Tcopy(type)));
  const H5T_class_t type_class = TORUS_HDF5(path, H5Tget_class(type));
  if (type_class == H5T_INTEGER || type_class == H5T_FLOAT || type_class == H5T_BITFIELD)
    TORUS_HDF5(path, H5Tset_order(copy.get(), H5T_ORDER_LE));
  return Id(TORUS_HDF5(path, H5Tcopy(copy.get())));  // an Id cannot move: hand back a copy
}

Hdf5Dataset describe(hid_t dataset, const std::string& name, uint64_t file_bytes, const std::string& path) {
  Hdf5Dataset out;
  out.name = name;
  Id type(TORUS_HDF5(path, H5Dget_type(dataset)));
  const H5T_class_t type_class = TORUS_HDF5(path, H5Tget_class(type.get()));
  const size_t size = H5Tget_size(type.get());
  if (size == 0) data::hdf5::throw_call_failure(path, "H5Tget_size");
  out.torus_dtype = h5::dtype_of(type.get(), path);
  out.dtype = dtype_name(type.get(), type_class, size, out.torus_dtype, path);
  out.readable = TORUS_HDF5(path, H5Tdetect_class(type.get(), H5T_VLEN)) == 0 &&
                 TORUS_HDF5(path, H5Tdetect_class(type.get(), H5T_REFERENCE)) == 0 &&
                 !(type_class == H5T_STRING && TORUS_HDF5(path, H5Tis_variable_str(type.get())) > 0);
  Id space(TORUS_HDF5(path, H5Dget_space(dataset)));
  if (TORUS_HDF5(path, H5Sget_simple_extent_type(space.get())) == H5S_NULL) {  // h5py.Empty: no data at all
    out.readable = false;
    return out;
  }
  out.shape = h5::shape_of(dataset, name, H5S_MAX_RANK, path);
  out.bytes = size;
  for (int64_t d : out.shape) {
    if (d != 0 && out.bytes > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d))
      throw IOError(fmt::format("{}: dataset '{}' is too large ({})", path, name, shape_str(out.shape)));
    out.bytes *= static_cast<uint64_t>(d);
  }
  h5::check_storage(dataset, name, out.bytes, file_bytes, path);
  return out;
}

}  // namespace

struct Hdf5DatasetFile::Open {
  explicit Open(const std::string& path)
      : link_access(h5::refusing_external_links(path)),
        file(TORUS_HDF5(path, H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)), path) {}
  // Declared first, destroyed last: HDF5 prints nothing while the file is open; the
  // exceptions carry its reasons.
  data::hdf5::QuietErrors quiet;
  Id link_access;
  h5::File file;  // read-only: its close has nothing to write, so the destructor's is enough
};

Hdf5DatasetFile::Hdf5DatasetFile(const fs::path& file) : path_(file) {
  const std::string path = file.string();
  std::error_code error;
  const uint64_t file_bytes = fs::file_size(file, error);
  if (error) throw IOError(fmt::format("{}: {}", path, error.message()));
  {
    const data::hdf5::QuietErrors quiet;
#if H5_VERSION_GE(1, 12, 0)
    const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
    const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
    if (is_hdf5 <= 0) throw IOError(fmt::format("{}: not an HDF5 file (no HDF5 signature)", path));
  }
  open_ = std::make_unique<Open>(path);
  const hid_t in = open_->file.get();
  std::vector<Link> links;  // every group's links, recursively (hard links to groups only)
  TORUS_HDF5(path, H5Lvisit(in, H5_INDEX_NAME, H5_ITER_INC, collect_link, &links));
  for (const Link& link : links) {
    if (link.type == H5L_TYPE_EXTERNAL)
      throw IOError(fmt::format("{}: '{}' is an external link (to {}); not followed", path, link.name,
                                h5::external_target(in, link.name, open_->link_access.get(), path)));
    if (link.type == H5L_TYPE_SOFT) continue;  // another name of an object listed under its own
    if (link.type != H5L_TYPE_HARD)
      throw IOError(fmt::format("{}: '{}' is a user-defined link; not followed", path, link.name));
    Id object(TORUS_HDF5(path, H5Oopen(in, link.name.c_str(), open_->link_access.get())));
    if (TORUS_HDF5(path, H5Iget_type(object.get())) == H5I_DATASET)
      datasets_.push_back(describe(object.get(), link.name, file_bytes, path));
  }
}

Hdf5DatasetFile::~Hdf5DatasetFile() = default;

std::map<std::string, std::string> Hdf5DatasetFile::simple_root_attributes() const {
  const std::string path = path_.string();
  const hid_t in = open_->file.get();
  std::vector<std::string> names;
  TORUS_HDF5(path, H5Aiterate2(in, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_attribute, &names));
  std::map<std::string, std::string> out;
  for (const std::string& name : names) {
    Id attribute(TORUS_HDF5(path, H5Aopen(in, name.c_str(), H5P_DEFAULT)));
    Id space(TORUS_HDF5(path, H5Aget_space(attribute.get())));
    Id type(TORUS_HDF5(path, H5Aget_type(attribute.get())));
    if (TORUS_HDF5(path, H5Sget_simple_extent_npoints(space.get())) != 1) continue;
    const H5T_class_t type_class = TORUS_HDF5(path, H5Tget_class(type.get()));
    try {
      if (type_class == H5T_INTEGER && TORUS_HDF5(path, H5Tget_sign(type.get())) == H5T_SGN_NONE) {
        uint64_t value = 0;
        TORUS_HDF5(path, H5Aread(attribute.get(), H5T_NATIVE_UINT64, &value));
        out[name] = std::to_string(value);
      } else if (type_class == H5T_INTEGER) {
        int64_t value = 0;
        TORUS_HDF5(path, H5Aread(attribute.get(), H5T_NATIVE_INT64, &value));
        out[name] = std::to_string(value);
      } else if (type_class == H5T_FLOAT) {
        double value = 0;
        TORUS_HDF5(path, H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value));
        out[name] = fmt::format("{}", value);
      } else if (type_class == H5T_STRING) {
        out[name] = h5::read_string_attribute(in, name.c_str(), path);
      }
    } catch (const IOError&) {
      // Not simple after all (a string HDF5 cannot convert, say): left out, as documented.
    }
  }
  return out;
}

void Hdf5DatasetFile::read(const std::string& name, const ByteSink& sink) const {
  const std::string path = path_.string();
  const auto it = std::find_if(datasets_.begin(), datasets_.end(), [&](const Hdf5Dataset& d) { return d.name == name; });
  TORUS_CHECK(it != datasets_.end(), "{}: no dataset '{}'", path, name);
  TORUS_CHECK(it->readable, "{}: dataset '{}' holds no fixed-size data to read", path, name);
  if (it->bytes == 0) return;
  Id dataset(TORUS_HDF5(path, H5Dopen2(open_->file.get(), name.c_str(), H5P_DEFAULT)));
  Id type(TORUS_HDF5(path, H5Dget_type(dataset.get())));
  const Id in_memory = memory_type_of(type.get(), path);
  const uint64_t element = H5Tget_size(type.get());
  if (element == 0) data::hdf5::throw_call_failure(path, "H5Tget_size");
  const Shape& shape = it->shape;
  if (shape.empty()) {  // a scalar
    std::vector<uint8_t> buffer(element);
    TORUS_HDF5(path, H5Dread(dataset.get(), in_memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()));
    sink(buffer.data(), buffer.size());
    return;
  }
  // Blocks of whole sub-arrays: the outermost dimension k whose steps (everything after
  // it) fit in a block is read `steps` at a time, for each index of the dimensions before.
  const size_t rank = shape.size();
  std::vector<uint64_t> inner(rank, 1);  // elements per step of each dimension
  for (size_t d = rank - 1; d > 0; --d) inner[d - 1] = inner[d] * static_cast<uint64_t>(shape[d]);
  size_t k = 0;
  while (k + 1 < rank && inner[k] * element > kBlockBytes) ++k;
  const uint64_t steps = std::clamp<uint64_t>(kBlockBytes / (inner[k] * element), 1, static_cast<uint64_t>(shape[k]));
  uint64_t outer = 1;
  for (size_t d = 0; d < k; ++d) outer *= static_cast<uint64_t>(shape[d]);
  std::vector<uint8_t> buffer(steps * inner[k] * element);
  Id file_space(TORUS_HDF5(path, H5Dget_space(dataset.get())));
  std::vector<hsize_t> offset(rank, 0), extent(shape.begin(), shape.end());
  for (uint64_t o = 0; o < outer; ++o) {
    for (size_t d = k, rest = o; d-- > 0; rest /= static_cast<uint64_t>(shape[d])) {
      offset[d] = rest % static_cast<uint64_t>(shape[d]);
      extent[d] = 1;
    }
    for (uint64_t at = 0; at < static_cast<uint64_t>(shape[k]); at += steps) {
      const uint64_t count = std::min<uint64_t>(steps, static_cast<uint64_t>(shape[k]) - at);
      offset[k] = at;
      extent[k] = count;
      TORUS_HDF5(path, H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset.data(), nullptr, extent.data(),
                                           nullptr));
      const hsize_t elements = count * inner[k];
      Id memory_space(TORUS_HDF5(path, H5Screate_simple(1, &elements, nullptr)));
      TORUS_HDF5(path, H5Dread(dataset.get(), in_memory.get(), memory_space.get(), file_space.get(), H5P_DEFAULT,
                               buffer.data()));
      sink(buffer.data(), elements * element);
    }
  }
}

uint32_t Hdf5DatasetFile::crc32(const std::string& name) const {
  uint32_t crc = 0;
  read(name, [&](const uint8_t* bytes, uint64_t size) { crc = io::crc32_update(crc, bytes, size); });
  return crc;
}

}  // namespace torus::checkpoint
