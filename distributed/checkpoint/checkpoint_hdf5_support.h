// What the writer and the reader of checkpoint.h5 share: the HDF5 type of each dtype,
// scalar attributes, and a file whose close is checked. For .cpp files only (<hdf5.h>).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "framework/data/hdf5_call.h"
#include "framework/tensor/dtype.h"
#include "framework/tensor/tensor.h"

namespace torus::checkpoint::h5 {

using data::hdf5::Id;

// In the file: little-endian IEEE floats (f16 and bf16 as custom 2-byte floats, which h5py
// reads as float16 and as a 2-byte float respectively) and integers.
Id file_type(DType dtype, const std::string& path);
// In memory: the same values in this machine's order.
Id memory_type(DType dtype, const std::string& path);
// The dtype a dataset's type reads into without loss, if Torus has one.
std::optional<DType> dtype_of(hid_t type, const std::string& path);

void write_attribute(hid_t object, const char* name, int64_t value, const std::string& path);
void write_attribute(hid_t object, const char* name, const std::string& value, const std::string& path);
// A missing attribute, or one of another kind or not of one value, is an IOError naming it.
int64_t read_int_attribute(hid_t object, const char* name, const std::string& path);
std::string read_string_attribute(hid_t object, const char* name, const std::string& path);

// A link-access property list on which any path through an external link fails: no read
// of an untrusted file leaves it.
Id refusing_external_links(const std::string& path);
// "other.h5:/weights", the target of the external link `name` (seen by H5Literate/H5Lvisit).
std::string external_target(hid_t location, const std::string& name, hid_t link_access, const std::string& path);
// The dataset's dimensions ({} for a scalar); a null dataspace or more than max_rank
// dimensions is an IOError naming `name`.
Shape shape_of(hid_t dataset, const std::string& name, int max_rank, const std::string& path);
// The data must be in this file (no virtual dataset, no external raw-data files) and, when
// stored unchunked, fit in it (`bytes` of data in a file of `file_bytes`).
void check_storage(hid_t dataset, const std::string& name, uint64_t bytes, uint64_t file_bytes, const std::string& path);

// An open file, closed by close() with its status checked (the close writes the
// metadata, and over MPI-IO is collective); the destructor closes it on error paths only.
class File {
 public:
  File(hid_t id, std::string path) : id_(id), path_(std::move(path)) {}
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  hid_t get() const { return id_; }
  void close();

 private:
  hid_t id_;
  std::string path_;
};

}  // namespace torus::checkpoint::h5
