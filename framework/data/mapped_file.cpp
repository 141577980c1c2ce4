// mmap of a whole file; every syscall is checked and its failure names the file.
#include "framework/data/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernels/common/error.h"

namespace torus::data {
namespace {

// Closes the descriptor on every path; the mapping stays valid after close.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

[[noreturn]] void fail(const std::string& path, const char* what, int saved_errno) {
  throw IOError(fmt::format("{}: cannot {}: {}", path, what, std::strerror(saved_errno)));
}

}  // namespace

std::shared_ptr<Storage> map_file_readonly(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "open", errno);
  FdCloser closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) fail(path, "stat", errno);
  if (!S_ISREG(info.st_mode)) throw IOError(fmt::format("{}: not a regular file", path));
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) return std::make_shared<Storage>(nullptr, 0, Device::cpu(), nullptr);
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapped == MAP_FAILED) fail(path, "map", errno);
  // munmap fails only for arguments that are not a mapping; there is nothing to report.
  return std::make_shared<Storage>(mapped, size, Device::cpu(), [size](void* p) { ::munmap(p, size); });
}

}  // namespace torus::data
