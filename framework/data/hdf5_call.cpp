// HDF5 error reporting: the reason is read from the library's per-thread error stack.
#include "framework/data/hdf5_call.h"

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::data::hdf5 {

std::string innermost_error() {
  std::string description;
  // Walking upward, entry 0 is where the library first detected the problem.
  auto keep_first = [](unsigned n, const H5E_error2_t* entry, void* out) -> herr_t {
    if (n == 0 && entry->desc != nullptr) *static_cast<std::string*>(out) = entry->desc;
    return 0;
  };
  if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_first, &description) < 0) return "unknown HDF5 error";
  return description.empty() ? "no reason given by HDF5" : description;
}

void throw_call_failure(const std::string& path, const char* call) {
  throw IOError(fmt::format("{}: HDF5 call {} failed: {}", path, call, innermost_error()));
}

QuietErrors::QuietErrors() {
  // If the handler cannot be read, errors still surface as exceptions; they are only louder.
  saved_ = H5Eget_auto2(H5E_DEFAULT, &previous_, &previous_data_) >= 0 &&
           H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
}

QuietErrors::~QuietErrors() {
  // Nothing to report from a destructor if the old handler cannot be put back.
  if (saved_) H5Eset_auto2(H5E_DEFAULT, previous_, previous_data_);
}

Id::~Id() {
  // Releasing a valid id cannot fail in a way a destructor could report; an invalid one
  // (a failed call's result) is never released.
  if (id_ >= 0) H5Idec_ref(id_);
}

}  // namespace torus::data::hdf5
