// safetensors files: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the tensor data. Files come from anywhere,
// so reading validates every field before trusting any of it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace torus::io {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  NamedTensors tensors;  // in data-offset order
  Metadata metadata;     // the header's "__metadata__"
};

// One tensor as a validated header describes it. The dtype is kept as the file spells
// it, so files holding dtypes Torus does not compute in (BOOL, F8_E4M3, U16, ...) can
// still be listed and checksummed.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

struct SafetensorsIndex {
  std::vector<SafetensorsEntry> entries;  // in data-offset order
  Metadata metadata;
  uint64_t data_start = 0;  // file offset of the data section
};

// A mapped file whose header has been validated; the bytes stay mapped while it lives.
struct MappedSafetensors {
  std::shared_ptr<Storage> backing;
  SafetensorsIndex index;
  const uint8_t* bytes_of(const SafetensorsEntry& entry) const {
    return static_cast<const uint8_t*>(backing->data()) + index.data_start + entry.begin;
  }
};

// One tensor of a file, before its bytes exist.
struct SafetensorsSpec {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
};

uint64_t spec_bytes(const SafetensorsSpec& spec);

// What precedes the data of a file holding `tensors` back to back in this order: the
// header's length (8 bytes, little-endian), then the header, padded by spaces so the data
// starts 8-byte aligned. A reserved or repeated name, or a negative dimension, is a
// ValueError that `who` begins.
std::string safetensors_prefix(const std::vector<SafetensorsSpec>& tensors, const Metadata& metadata,
                               const std::string& who);

// Writes tensors (any Torus dtype, made contiguous) in the given order, with the header
// padded by spaces so the data starts 8-byte aligned. Given `checksum`, stores there the
// CRC-32 of the file's bytes, computed as they are written (checkpoint manifests list it;
// other callers skip the cost).
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {},
                      uint32_t* checksum = nullptr);

// Maps the file and returns tensors that view the mapping (read-only use: writing into
// them is an error of the caller). Any violation of the format is one IOError naming
// the file and the problem; so is a valid file holding a dtype Torus does not support.
SafetensorsContents load_safetensors(const std::string& path);

// Maps the file and validates its header, accepting every dtype of the format.
MappedSafetensors map_safetensors(const std::string& path);

// Validates an in-memory file image against every rule of the format (`name` is used
// in error messages). Nothing sized by the file is allocated before it is checked.
SafetensorsIndex parse_safetensors_index(const uint8_t* bytes, uint64_t size, const std::string& name);

// Validates and parses an in-memory file image into tensors; `backing` keeps the
// bytes alive for the returned tensors.
SafetensorsContents parse_safetensors(const std::shared_ptr<Storage>& backing, const std::string& name);

// "F32", "BF16", ... as the format spells them.
std::string safetensors_dtype_name(DType dtype);

}  // namespace torus::io
