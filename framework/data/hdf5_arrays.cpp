// HDF5 array files, validated before anything sized by the file is allocated.
#include "framework/data/hdf5_arrays.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "framework/data/hdf5_call.h"

namespace torus::data {
namespace {

constexpr int kMaxRank = 8;

// Link-traversal callback: refusing makes any path through an external link fail.
herr_t refuse_external_link(const char*, const char*, const char*, const char*, unsigned*, hid_t, void*) {
  return -1;
}

const char* class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floats";
    case H5T_STRING: return "strings";
    case H5T_ENUM: return "enums (h5py stores bool so)";
    case H5T_COMPOUND: return "compound records";
    default: return "values of an unsupported HDF5 type class";
  }
}

// One of x or y, checked and sized but not yet read.
struct ArrayInFile {
  std::string name;
  DType dtype = DType::f32;  // in memory, after conversion
  Shape shape;
};

class ArrayFileReader {
 public:
  ArrayFileReader(std::string path, const ArrayFileOptions& options)
      : path_(std::move(path)),
        options_(options),
        file_(TORUS_HDF5(path_, H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT))),
        link_access_(TORUS_HDF5(path_, H5Pcreate(H5P_LINK_ACCESS))) {
    TORUS_HDF5(path_, H5Pset_elink_cb(link_access_.get(), refuse_external_link, nullptr));
  }

  // Checks that `name` is a dataset stored in this file with a supported type; returns
  // its id.
  hid_t open_dataset(const std::string& name) {
    const char* c_name = name.c_str();
    if (TORUS_HDF5(path_, H5Lexists(file_.get(), c_name, link_access_.get())) == 0)
      fail(fmt::format("has no dataset '{}' (an array file needs datasets 'x' and 'y')", name));
    H5L_info_t link{};
    TORUS_HDF5(path_, H5Lget_info(file_.get(), c_name, &link, link_access_.get()));
    if (link.type == H5L_TYPE_EXTERNAL)
      fail(fmt::format("'{}' is an external link into another file, which Torus does not follow", name));
    const hid_t object = TORUS_HDF5(path_, H5Oopen(file_.get(), c_name, link_access_.get()));
    owned_.emplace_back(std::make_unique<hdf5::Id>(object));
    if (TORUS_HDF5(path_, H5Iget_type(object)) != H5I_DATASET) fail(fmt::format("'{}' is not a dataset", name));
    hdf5::Id creation(TORUS_HDF5(path_, H5Dget_create_plist(object)));
    if (TORUS_HDF5(path_, H5Pget_layout(creation.get())) == H5D_VIRTUAL)
      fail(fmt::format("'{}' is a virtual dataset mapping other files, which Torus does not follow", name));
    if (TORUS_HDF5(path_, H5Pget_external_count(creation.get())) > 0)
      fail(fmt::format("'{}' keeps its data in external files, which Torus does not read", name));
    return object;
  }

  ArrayInFile describe(hid_t dataset, const std::string& name, bool is_input) {
    ArrayInFile array;
    array.name = name;
    hdf5::Id type(TORUS_HDF5(path_, H5Dget_type(dataset)));
    const H5T_class_t type_class = TORUS_HDF5(path_, H5Tget_class(type.get()));
    const size_t size = H5Tget_size(type.get());
    if (size == 0) hdf5::throw_call_failure(path_, "H5Tget_size(type)");
    const bool is_float = type_class == H5T_FLOAT && (size == 4 || size == 8);
    if (is_input && !is_float)
      fail(fmt::format("'{}' holds {} of {} bytes, expected float32 or float64", name, class_name(type_class), size));
    if (!is_input && !is_float && !(type_class == H5T_INTEGER && size <= 8))
      fail(fmt::format("'{}' holds {} of {} bytes, expected integers (class indices) or float32/float64", name,
                       class_name(type_class), size));
    array.dtype = is_input ? options_.input_dtype : target_dtype_for(type_class == H5T_INTEGER, options_.input_dtype);

    hdf5::Id space(TORUS_HDF5(path_, H5Dget_space(dataset)));
    if (TORUS_HDF5(path_, H5Sget_simple_extent_type(space.get())) != H5S_SIMPLE)
      fail(fmt::format("'{}' is a scalar or empty dataspace, expected (N, ...)", name));
    const int rank = TORUS_HDF5(path_, H5Sget_simple_extent_ndims(space.get()));
    if (rank < 1 || rank > kMaxRank) fail(fmt::format("'{}' has {} dimensions, expected 1 to {}", name, rank, kMaxRank));
    hsize_t dims[kMaxRank] = {};
    TORUS_HDF5(path_, H5Sget_simple_extent_dims(space.get(), dims, nullptr));
    for (int d = 0; d < rank; ++d) {
      if (dims[d] > static_cast<hsize_t>(std::numeric_limits<int64_t>::max()))
        fail(fmt::format("'{}' has an implausible dimension of {}", name, dims[d]));
      array.shape.push_back(static_cast<int64_t>(dims[d]));
    }
    return array;
  }

  // Bytes the arrays take in memory, refusing overflow and anything over max_bytes.
  void check_size(const ArrayInFile& x, const ArrayInFile& y) {
    uint64_t total = 0;
    for (const ArrayInFile* array : {&x, &y}) {
      uint64_t bytes = dtype_size(array->dtype);
      for (const int64_t dim : array->shape) {
        const auto size = static_cast<uint64_t>(dim);
        if (size != 0 && bytes > options_.max_bytes / size)
          fail(fmt::format("'{}' of shape {} is larger than the limit of {} bytes (ArrayFileOptions::max_bytes)",
                           array->name, shape_str(array->shape), options_.max_bytes));
        bytes *= size;
      }
      total += bytes;
    }
    if (total > options_.max_bytes)
      fail(fmt::format("x and y take {} bytes, more than the limit of {} (ArrayFileOptions::max_bytes)", total,
                       options_.max_bytes));
  }

  Tensor read(hid_t dataset, const ArrayInFile& array) {
    Tensor out = Tensor::empty(array.shape, array.dtype);
    const hid_t memory_type = array.dtype == DType::f32   ? H5T_NATIVE_FLOAT
                              : array.dtype == DType::f64 ? H5T_NATIVE_DOUBLE
                                                          : H5T_NATIVE_INT64;
    TORUS_HDF5(path_, H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.raw_data()));
    return out;
  }

  [[noreturn]] void fail(const std::string& problem) const { throw IOError(fmt::format("{}: {}", path_, problem)); }

 private:
  std::string path_;
  ArrayFileOptions options_;
  hdf5::Id file_;
  hdf5::Id link_access_;
  std::vector<std::unique_ptr<hdf5::Id>> owned_;  // datasets, closed before the file
};

}  // namespace

std::shared_ptr<ArrayDataset> load_hdf5_arrays(const std::string& path, const ArrayFileOptions& options) {
  TORUS_CHECK(options.input_dtype == DType::f32 || options.input_dtype == DType::f64,
              "{}: array input dtype must be f32 or f64, got {}", path, dtype_name(options.input_dtype));
  // A plain reason for the common mistakes, before HDF5's own wording.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw IOError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  hdf5::QuietErrors quiet;
  if (TORUS_HDF5(path, H5Fis_hdf5(path.c_str())) == 0) throw IOError(fmt::format("{}: not an HDF5 file", path));

  ArrayFileReader reader(path, options);
  const hid_t x_id = reader.open_dataset("x");
  const hid_t y_id = reader.open_dataset("y");
  const ArrayInFile x = reader.describe(x_id, "x", true);
  const ArrayInFile y = reader.describe(y_id, "y", false);
  if (x.shape[0] != y.shape[0])
    reader.fail(fmt::format("x holds {} samples but y holds {}", x.shape[0], y.shape[0]));
  reader.check_size(x, y);
  return std::make_shared<ArrayDataset>(reader.read(x_id, x), reader.read(y_id, y), path, options.num_classes);
}

}  // namespace torus::data
