// Any HDF5 file's datasets, listed and read block by block in one process: what `torus
// ckpt inspect FILE.h5` lists, and what the inspect and the export of an HDF5-format
// checkpoint (checkpoint.h5) read. The file is untrusted, as for read_hdf5_checkpoint:
// external and user-defined links are refused, and so is data kept outside the file
// (virtual datasets, external storage). No <hdf5.h> here: the launcher includes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::checkpoint {

struct Hdf5Dataset {
  std::string name;  // its path without the leading '/': "model.fc.weight", "group/x"
  // Safetensors' name where there is one ("F32", "BF16", "I64", "U16"), else the HDF5
  // class ("FLOAT", "STRING", "COMPOUND", "ENUM", ...).
  std::string dtype;
  std::optional<DType> torus_dtype;  // the dtype it reads into without loss, if Torus has one
  Shape shape;                       // {} for a scalar or a null dataspace
  uint64_t bytes = 0;                // elements × element size
  bool readable = true;              // false for variable-length data and references (no fixed bytes)
};

// Called with the next bytes of a dataset's data, in row-major order.
using ByteSink = std::function<void(const uint8_t* bytes, uint64_t size)>;

class Hdf5DatasetFile {
 public:
  // Opens `file` read-only and lists its datasets (every group walked, in name order); a
  // file that is not HDF5, is truncated or holds an external link is an IOError naming it.
  explicit Hdf5DatasetFile(const std::filesystem::path& file);
  ~Hdf5DatasetFile();
  Hdf5DatasetFile(const Hdf5DatasetFile&) = delete;
  Hdf5DatasetFile& operator=(const Hdf5DatasetFile&) = delete;

  const std::vector<Hdf5Dataset>& datasets() const { return datasets_; }
  // The root attributes of one number or one string, as text; the others are left out.
  std::map<std::string, std::string> simple_root_attributes() const;
  // The data of dataset `name` (one of datasets(), readable) in blocks of at most a few tens
  // of MiB: numbers little-endian (as safetensors stores them), other fixed-size types as the
  // file stores them.
  void read(const std::string& name, const ByteSink& sink) const;
  // CRC-32 of what read() gives.
  uint32_t crc32(const std::string& name) const;

 private:
  struct Open;
  std::filesystem::path path_;
  std::unique_ptr<Open> open_;
  std::vector<Hdf5Dataset> datasets_;
};

}  // namespace torus::checkpoint
