// The message of the error a call throws, for tests that check what it says.
#pragma once

#include <string>

#include "kernels/common/error.h"

namespace torus::test {

// The message of the error of type E (ValueError unless named) `f` throws ("" when it
// throws none).
template <class E = ValueError, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace torus::test
