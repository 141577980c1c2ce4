// Parsing of device names as users write them in configs and the API.
#include "framework/tensor/device.h"

#include <cstdlib>

#include "kernels/common/error.h"

namespace torus {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    char* end = nullptr;
    long index = std::strtol(text.c_str() + 5, &end, 10);
    if (*end == '\0' && index >= 0) return cuda(static_cast<int>(index));
  }
  throw ValueError(fmt::format("unknown device '{}' (expected cpu, cuda or cuda:N)", text));
}

}  // namespace torus
