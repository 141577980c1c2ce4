// "[2, 3, 4]": a shape as the layout functions' error messages print it (the framework's
// shape_str, which kernels cannot see).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace torus::cuda {

inline std::string shape_text(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace torus::cuda
