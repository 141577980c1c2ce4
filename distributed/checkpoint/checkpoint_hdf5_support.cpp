// HDF5 types, attributes and files of checkpoint.h5 (see checkpoint_hdf5_support.h).
#include "distributed/checkpoint/checkpoint_hdf5_support.h"

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

}  // namespace

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
