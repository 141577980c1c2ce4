// Arrays from a safetensors file: tensors `x` (inputs) and `y` (targets), any leading
// sample count N, through the validated mmap reader of framework/io.
#pragma once

#include <memory>
#include <string>

#include "framework/data/array_dataset.h"

namespace torus::data {

// The rules of load_hdf5_arrays: x F32 or F64, y an integer dtype (-> i64 class indices)
// or F32/F64 (-> x's dtype), the same N > 0; an IOError naming the file otherwise. When x
// and y already have their in-memory dtypes, the dataset reads the mapping in place.
std::shared_ptr<ArrayDataset> load_safetensors_arrays(const std::string& path, const ArrayFileOptions& options = {});

}  // namespace torus::data
