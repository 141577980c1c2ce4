// Out-of-line throw helper of TORUS_MPI, so each checked call site stays small.
#include "distributed/comm/mpi_error.h"

namespace torus::comm {

std::string mpi_error_string(int mpi_code) {
  // Open MPI aborts the process on MPI_Error_string outside MPI_Init..MPI_Finalize.
  int initialized = 0, finalized = 0;
  if (MPI_Initialized(&initialized) != MPI_SUCCESS || MPI_Finalized(&finalized) != MPI_SUCCESS ||
      !initialized || finalized)
    return fmt::format("MPI error code {} (MPI is not running, so no description)", mpi_code);
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  // Not checked through TORUS_MPI: failing to describe an error must not hide it.
  if (MPI_Error_string(mpi_code, text, &length) != MPI_SUCCESS || length <= 0)
    return fmt::format("MPI error code {}", mpi_code);
  return std::string(text, static_cast<size_t>(length));
}

namespace detail {

void throw_mpi_error(const char* call, int mpi_code, const char* file, int line) {
  throw MpiError(fmt::format("{} failed: {} (MPI error code {}, at {}:{})", call,
                             mpi_error_string(mpi_code), mpi_code, file, line),
                 mpi_code);
}

}  // namespace detail
}  // namespace torus::comm
