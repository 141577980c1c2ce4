// libFuzzer target for the safetensors reader: any byte string is either rejected with
// an IOError or parsed into tensors that lie inside it. Anything else (a crash, a
// sanitizer report, another exception, a hang) is a bug the fuzzer reports.
#include <cstdint>
#include <cstring>
#include <memory>

#include "framework/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A heap copy of exactly `size` bytes, so AddressSanitizer flags any read past it.
  void* copy = std::malloc(size == 0 ? 1 : size);
  if (size > 0) std::memcpy(copy, data, size);
  auto backing = std::make_shared<torus::Storage>(copy, size, torus::Device::cpu(), [](void* p) { std::free(p); });
  try {
    const torus::io::SafetensorsContents contents = torus::io::parse_safetensors(backing, "fuzz input");
    // Touch every byte of every tensor: the offsets must stay inside the input.
    uint8_t sum = 0;
    for (const auto& [name, tensor] : contents.tensors) {
      const auto* bytes = static_cast<const uint8_t*>(tensor.raw_data());
      for (size_t i = 0; i < tensor.nbytes(); ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
    }
    volatile uint8_t sink = sum;
    (void)sink;
  } catch (const torus::IOError&) {
    // The expected outcome for almost every input.
  }
  return 0;
}
