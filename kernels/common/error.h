// Error types shared by every layer, and the check macros that raise them.
// Library code throws; only the `torus` main decides how to report and exit.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace torus {

// Base of every error Torus raises; the message names the op or call and the values.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from the user: a shape, a dtype, a value out of range.
class ValueError : public Error {
 public:
  using Error::Error;
};

// A feature that exists in the API but not (yet) for this dtype, device or argument.
class NotImplementedError : public Error {
 public:
  using Error::Error;
};

// A file, syscall or library I/O failure.
class IOError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void throw_check_failure(const char* file, int line, const std::string& message);
[[noreturn]] void throw_assert_failure(const char* file, int line, const char* condition,
                                       const std::string& message);
[[noreturn]] void throw_errno(const char* file, int line, const char* call, int saved_errno);
}  // namespace detail

}  // namespace torus

// User-facing precondition: throws ValueError with a formatted message.
#define TORUS_CHECK(cond, ...)                                                           \
  do {                                                                                   \
    if (!(cond)) ::torus::detail::throw_check_failure(__FILE__, __LINE__,                \
                                                      ::fmt::format(__VA_ARGS__));       \
  } while (0)

// Internal invariant: a failure is a bug in Torus, reported with file and line.
#define TORUS_ASSERT(cond, ...)                                                          \
  do {                                                                                   \
    if (!(cond)) ::torus::detail::throw_assert_failure(__FILE__, __LINE__, #cond,       \
                                                       ::fmt::format("" __VA_ARGS__));  \
  } while (0)

// Wraps a syscall that returns -1 and sets errno on failure.
#define TORUS_CHECK_ERRNO(call)                                                          \
  do {                                                                                   \
    if ((call) == -1) ::torus::detail::throw_errno(__FILE__, __LINE__, #call, errno);    \
  } while (0)
