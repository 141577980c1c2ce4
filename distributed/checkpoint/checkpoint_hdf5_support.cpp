// HDF5 types, attributes and files of checkpoint.h5 (see checkpoint_hdf5_support.h).
#include "distributed/checkpoint/checkpoint_hdf5_support.h"

#include <vector>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::checkpoint::h5 {
namespace {

// A 2-byte float: sign at bit 15, then the exponent, then the mantissa.
Id half_type(size_t exponent_bits, size_t exponent_bias, const std::string& path) {
  const size_t mantissa_bits = 15 - exponent_bits;
  Id type(TORUS_HDF5(path, H5Tcopy(H5T_IEEE_F32LE)));
  TORUS_HDF5(path, H5Tset_fields(type.get(), 15, mantissa_bits, exponent_bits, 0, mantissa_bits));
  TORUS_HDF5(path, H5Tset_size(type.get(), 2));
  TORUS_HDF5(path, H5Tset_ebias(type.get(), exponent_bias));
  return Id(TORUS_HDF5(path, H5Tcopy(type.get())));  // an Id cannot move: hand back a copy
}

Id copy_of(hid_t predefined, const std::string& path) { return Id(TORUS_HDF5(path, H5Tcopy(predefined))); }

Id string_type(const std::string& path) {
  Id type(TORUS_HDF5(path, H5Tcopy(H5T_C_S1)));
  TORUS_HDF5(path, H5Tset_size(type.get(), H5T_VARIABLE));
  TORUS_HDF5(path, H5Tset_cset(type.get(), H5T_CSET_UTF8));
  return Id(TORUS_HDF5(path, H5Tcopy(type.get())));
}

// The attribute `name`, which must exist.
hid_t open_attribute(hid_t object, const char* name, const std::string& path) {
  if (TORUS_HDF5(path, H5Aexists(object, name)) == 0)
    throw IOError(fmt::format("{}: has no root attribute '{}' (not a Torus checkpoint file?)", path, name));
  return TORUS_HDF5(path, H5Aopen(object, name, H5P_DEFAULT));
}

// An attribute of one value of class `expected`.
void check_attribute(hid_t attribute, const char* name, H5T_class_t expected, const char* kind, const std::string& path) {
  Id space(TORUS_HDF5(path, H5Aget_space(attribute)));
  Id type(TORUS_HDF5(path, H5Aget_type(attribute)));
  if (TORUS_HDF5(path, H5Sget_simple_extent_npoints(space.get())) != 1 ||
      TORUS_HDF5(path, H5Tget_class(type.get())) != expected)
    throw IOError(fmt::format("{}: root attribute '{}' is not one {}", path, name, kind));
}

// Link-traversal callback: refusing makes any path through an external link fail.
herr_t refuse_external_link(const char*, const char*, const char*, const char*, unsigned*, hid_t, void*) { return -1; }

}  // namespace

Id refusing_external_links(const std::string& path) {
  Id link_access(TORUS_HDF5(path, H5Pcreate(H5P_LINK_ACCESS)));
  TORUS_HDF5(path, H5Pset_elink_cb(link_access.get(), refuse_external_link, nullptr));
  return Id(TORUS_HDF5(path, H5Pcopy(link_access.get())));  // an Id cannot move: hand back a copy
}

std::string external_target(hid_t location, const std::string& name, hid_t link_access, const std::string& path) {
  H5L_info_t info{};
  TORUS_HDF5(path, H5Lget_info(location, name.c_str(), &info, link_access));
  std::vector<char> value(info.u.val_size + 1, '\0');
  TORUS_HDF5(path, H5Lget_val(location, name.c_str(), value.data(), value.size(), link_access));
  const char* target_file = nullptr;
  const char* target_object = nullptr;
  unsigned flags = 0;
  TORUS_HDF5(path, H5Lunpack_elink_val(value.data(), info.u.val_size, &flags, &target_file, &target_object));
  return fmt::format("{}:{}", target_file, target_object);
}

Shape shape_of(hid_t dataset, const std::string& name, int max_rank, const std::string& path) {
  Id space(TORUS_HDF5(path, H5Dget_space(dataset)));
  const H5S_class_t space_class = TORUS_HDF5(path, H5Sget_simple_extent_type(space.get()));
  if (space_class == H5S_SCALAR) return {};
  if (space_class != H5S_SIMPLE) throw IOError(fmt::format("{}: dataset '{}' has no elements (a null dataspace)", path, name));
  const int rank = TORUS_HDF5(path, H5Sget_simple_extent_ndims(space.get()));
  if (rank > max_rank)
    throw IOError(fmt::format("{}: dataset '{}' has {} dimensions (at most {})", path, name, rank, max_rank));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  TORUS_HDF5(path, H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  return Shape(dims.begin(), dims.end());
}

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

Id file_type(DType dtype, const std::string& path) {
  switch (dtype) {
    case DType::f32: return copy_of(H5T_IEEE_F32LE, path);
    case DType::f64: return copy_of(H5T_IEEE_F64LE, path);
    case DType::f16: return half_type(5, 15, path);
    case DType::bf16: return half_type(8, 127, path);
    case DType::i32: return copy_of(H5T_STD_I32LE, path);
    case DType::i64: return copy_of(H5T_STD_I64LE, path);
    case DType::u8: return copy_of(H5T_STD_U8LE, path);
  }
  throw Error(fmt::format("{}: no HDF5 type for dtype {}", path, static_cast<int>(dtype)));
}

Id memory_type(DType dtype, const std::string& path) {
  switch (dtype) {
    case DType::f32: return copy_of(H5T_NATIVE_FLOAT, path);
    case DType::f64: return copy_of(H5T_NATIVE_DOUBLE, path);
    case DType::i32: return copy_of(H5T_NATIVE_INT32, path);
    case DType::i64: return copy_of(H5T_NATIVE_INT64, path);
    case DType::u8: return copy_of(H5T_NATIVE_UINT8, path);
    case DType::f16:
    case DType::bf16: return file_type(dtype, path);  // Torus keeps them little-endian
  }
  throw Error(fmt::format("{}: no HDF5 type for dtype {}", path, static_cast<int>(dtype)));
}

std::optional<DType> dtype_of(hid_t type, const std::string& path) {
  const H5T_class_t type_class = TORUS_HDF5(path, H5Tget_class(type));
  const size_t size = H5Tget_size(type);
  if (size == 0) data::hdf5::throw_call_failure(path, "H5Tget_size");
  if (type_class == H5T_INTEGER) {
    const bool is_signed = TORUS_HDF5(path, H5Tget_sign(type)) == H5T_SGN_2;
    if (is_signed && size == 4) return DType::i32;
    if (is_signed && size == 8) return DType::i64;
    if (!is_signed && size == 1) return DType::u8;
    return std::nullopt;
  }
  if (type_class != H5T_FLOAT) return std::nullopt;
  if (size == 4) return DType::f32;
  if (size == 8) return DType::f64;
  if (size != 2) return std::nullopt;
  size_t sign = 0, exponent_at = 0, exponent_bits = 0, mantissa_at = 0, mantissa_bits = 0;
  TORUS_HDF5(path, H5Tget_fields(type, &sign, &exponent_at, &exponent_bits, &mantissa_at, &mantissa_bits));
  if (exponent_bits == 5 && mantissa_bits == 10) return DType::f16;
  if (exponent_bits == 8 && mantissa_bits == 7) return DType::bf16;
  return std::nullopt;
}

void write_attribute(hid_t object, const char* name, int64_t value, const std::string& path) {
  Id space(TORUS_HDF5(path, H5Screate(H5S_SCALAR)));
  Id attribute(TORUS_HDF5(path, H5Acreate2(object, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT)));
  TORUS_HDF5(path, H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value));
}

void write_attribute(hid_t object, const char* name, const std::string& value, const std::string& path) {
  const Id type = string_type(path);
  Id space(TORUS_HDF5(path, H5Screate(H5S_SCALAR)));
  Id attribute(TORUS_HDF5(path, H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT)));
  const char* text = value.c_str();
  TORUS_HDF5(path, H5Awrite(attribute.get(), type.get(), &text));
}

int64_t read_int_attribute(hid_t object, const char* name, const std::string& path) {
  const Id attribute(open_attribute(object, name, path));
  check_attribute(attribute.get(), name, H5T_INTEGER, "integer", path);
  int64_t value = 0;
  TORUS_HDF5(path, H5Aread(attribute.get(), H5T_NATIVE_INT64, &value));
  return value;
}

std::string read_string_attribute(hid_t object, const char* name, const std::string& path) {
  const Id attribute(open_attribute(object, name, path));
  check_attribute(attribute.get(), name, H5T_STRING, "string", path);
  Id stored(TORUS_HDF5(path, H5Aget_type(attribute.get())));
  if (TORUS_HDF5(path, H5Tis_variable_str(stored.get())) > 0) {
    const Id type = string_type(path);
    char* text = nullptr;
    TORUS_HDF5(path, H5Aread(attribute.get(), type.get(), &text));
    std::string out = text != nullptr ? text : "";
    TORUS_HDF5(path, H5free_memory(text));
    return out;
  }
  const size_t size = H5Tget_size(stored.get());  // fixed length, as other writers may store it
  if (size == 0) data::hdf5::throw_call_failure(path, "H5Tget_size");
  Id type(TORUS_HDF5(path, H5Tcopy(H5T_C_S1)));
  TORUS_HDF5(path, H5Tset_size(type.get(), size));
  std::string out(size, '\0');
  TORUS_HDF5(path, H5Aread(attribute.get(), type.get(), out.data()));
  return out.substr(0, out.find('\0'));
}

File::~File() {
  // Only reached open when an exception is already on its way.
  if (id_ >= 0) H5Fclose(id_);
}

void File::close() {
  const hid_t id = id_;
  id_ = -1;
  TORUS_HDF5(path_, H5Fclose(id));
}

}  // namespace torus::checkpoint::h5
