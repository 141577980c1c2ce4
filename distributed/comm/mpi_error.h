// MpiError and TORUS_MPI: every MPI return code is checked and turned into an error that
// names the call, where it was made and MPI's own description of the failure.
#pragma once

// The C API only: Open MPI's deprecated C++ bindings would otherwise come with mpi.h.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include "kernels/common/error.h"

namespace torus::comm {

// A failed MPI call (its communicator returns errors instead of aborting).
class MpiError : public Error {
 public:
  MpiError(const std::string& message, int mpi_code) : Error(message), mpi_code_(mpi_code) {}
  int mpi_code() const { return mpi_code_; }

 private:
  int mpi_code_;
};

// MPI's description of an error code, e.g. "MPI_ERR_COUNT: invalid count argument"
// (only the code while MPI is not initialised).
std::string mpi_error_string(int mpi_code);

namespace detail {
[[noreturn]] void throw_mpi_error(const char* call, int mpi_code, const char* file, int line);
}  // namespace detail

}  // namespace torus::comm

// Runs an MPI call; anything but MPI_SUCCESS throws MpiError naming the call and file:line.
#define TORUS_MPI(call)                                                                   \
  do {                                                                                    \
    const int torus_mpi_code_ = (call);                                                   \
    if (torus_mpi_code_ != MPI_SUCCESS)                                                   \
      ::torus::comm::detail::throw_mpi_error(#call, torus_mpi_code_, __FILE__, __LINE__); \
  } while (0)
