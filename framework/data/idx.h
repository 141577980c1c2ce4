// Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed):
// big-endian magic (0, 0, type, ndims), ndims big-endian u32 sizes, then the data.
#pragma once

#include <string>

#include "framework/tensor/tensor.h"

namespace torus::data {

// Reads an IDX file of unsigned bytes (type 0x08) into a u8 tensor of its shape.
// Truncated, oversized or malformed files are IOError naming the file and the problem.
Tensor read_idx(const std::string& path);

}  // namespace torus::data
