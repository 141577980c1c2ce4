// Checked HDF5 C API calls: every id or status is tested, and a failure is an IOError
// naming the file, the call and HDF5's own reason. For .cpp files only (needs <hdf5.h>,
// whose include path is private to the framework).
#pragma once

#include <hdf5.h>

#include <string>
#include <type_traits>

namespace torus::data::hdf5 {

// The innermost (most specific) description on this thread's HDF5 error stack.
std::string innermost_error();

[[noreturn]] void throw_call_failure(const std::string& path, const char* call);

// HDF5 returns a negative id, status or enum value on failure.
template <class T>
T checked(T result, const std::string& path, const char* call) {
  static_assert(std::is_signed_v<T> || std::is_enum_v<T>, "checked() needs a call that returns negative on failure");
  if (static_cast<long long>(result) < 0) throw_call_failure(path, call);
  return result;
}

// Stops HDF5 printing its error stack to stderr while alive (our exceptions carry the
// reason), and restores the previous handler afterwards.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t previous_ = nullptr;
  void* previous_data_ = nullptr;
  bool saved_ = false;
};

// Owns one HDF5 id of any kind and releases it on scope exit.
class Id {
 public:
  explicit Id(hid_t id) : id_(id) {}
  ~Id();
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
};

}  // namespace torus::data::hdf5

// Runs an HDF5 call on file `path`; throws naming both if it fails, else yields its result.
#define TORUS_HDF5(path, call) ::torus::data::hdf5::checked((call), (path), #call)
