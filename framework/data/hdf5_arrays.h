// Arrays from an HDF5 file: datasets `x` (inputs) and `y` (targets) at the root, any
// leading sample count N, read into memory with the HDF5 C API.
#pragma once

#include <memory>
#include <string>

#include "framework/data/array_dataset.h"

namespace torus::data {

// x must be float32 or float64, y integer (-> i64 class indices) or float (-> x's dtype),
// both simple dataspaces with the same N > 0. Refused with an IOError naming the file:
// a missing file or dataset, another type, mismatched N, x plus y larger than
// options.max_bytes, a class index out of range, and any dataset whose data lives in
// another file (an external link, external raw storage, a virtual dataset): data files
// come from anywhere, and must not make Torus read files they merely name.
std::shared_ptr<ArrayDataset> load_hdf5_arrays(const std::string& path, const ArrayFileOptions& options = {});

}  // namespace torus::data
