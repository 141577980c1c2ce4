// Out-of-line throw helpers keep the check macros small at every call site.
#include "kernels/common/error.h"

#include <cstring>

namespace torus::detail {

void throw_check_failure(const char* /*file*/, int /*line*/, const std::string& message) {
  throw ValueError(message);
}

void throw_assert_failure(const char* file, int line, const char* condition,
                          const std::string& message) {
  throw Error(fmt::format("internal error (a Torus bug) at {}:{}: {} failed{}{}", file, line,
                          condition, message.empty() ? "" : ": ", message));
}

void throw_errno(const char* file, int line, const char* call, int saved_errno) {
  throw IOError(fmt::format("{} failed: {} (at {}:{})", call, std::strerror(saved_errno), file,
                            line));
}

}  // namespace torus::detail
