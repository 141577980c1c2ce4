// What the writer and the reader of checkpoint.h5 share: the HDF5 type of each dtype,
// scalar attributes, and a file whose close is checked. For .cpp files only (<hdf5.h>).
#pragma once

#include <optional>
#include <string>

#include "framework/data/hdf5_call.h"
#include "framework/tensor/dtype.h"

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
