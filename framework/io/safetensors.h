// safetensors files: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the tensor data. Files come from anywhere,
// so reading validates every field before trusting any of it.
#pragma once

#include <map>
#include <string>

#include "framework/nn/module.h"

namespace torus::io {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  NamedTensors tensors;  // in data-offset order
  Metadata metadata;     // the header's "__metadata__"
};

// Writes tensors (any Torus dtype, made contiguous) in the given order, with the header
// padded by spaces so the data starts 8-byte aligned.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});

// Maps the file and returns tensors that view the mapping (read-only use: writing into
// them is an error of the caller). Any violation of the format is one IOError naming
// the file and the problem.
SafetensorsContents load_safetensors(const std::string& path);

// Validates and parses an in-memory file image; `name` is used in error messages and
// `backing` keeps the bytes alive for the returned tensors.
SafetensorsContents parse_safetensors(const std::shared_ptr<Storage>& backing, const std::string& name);

// "F32", "BF16", ... as the format spells them.
std::string safetensors_dtype_name(DType dtype);

}  // namespace torus::io
