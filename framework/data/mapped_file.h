// A whole file mapped read-only into memory: pages load on first touch and the kernel
// may drop them again, so files larger than RAM can be read at random.
#pragma once

#include <memory>
#include <string>

#include "framework/tensor/storage.h"

namespace torus::data {

// Maps `path` read-only; the mapping lives as long as the returned storage. A missing,
// unreadable or non-regular file is an IOError naming it. An empty file maps to an empty
// storage (data() is null).
std::shared_ptr<Storage> map_file_readonly(const std::string& path);

}  // namespace torus::data
