// O_DIRECT sequential writer (see direct_writer.h).
#include "framework/io/direct_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::io {
namespace {

constexpr size_t kAlignment = 4096;          // O_DIRECT's offset, size and address unit
constexpr size_t kBufferBytes = size_t{8} << 20;

void* aligned_buffer() {
  void* p = nullptr;
  if (::posix_memalign(&p, kAlignment, kBufferBytes) != 0) throw IOError("DirectWriter: out of memory");
  return p;
}

}  // namespace

DirectWriter::DirectWriter(std::string path) : path_(std::move(path)), buffer_(static_cast<char*>(aligned_buffer()), std::free) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  direct_ = fd_ >= 0;
  if (fd_ < 0 && errno == EINVAL) fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IOError(fmt::format("{}: cannot create: {}", path_, std::strerror(errno)));
}

DirectWriter::~DirectWriter() {
  if (fd_ >= 0) ::close(fd_);  // only on an error path: close() reports its own
}

void DirectWriter::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const size_t take = std::min(n, kBufferBytes - used_);
    std::memcpy(buffer_.get() + used_, p, take);
    used_ += take;
    p += take;
    n -= take;
    if (used_ == kBufferBytes) flush_full_blocks();
  }
}

void DirectWriter::flush_full_blocks() {
  const size_t whole = direct_ ? used_ / kAlignment * kAlignment : used_;
  size_t done = 0;
  while (done < whole) {
    const ssize_t n = ::write(fd_, buffer_.get() + done, whole - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IOError(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  written_ += whole;
  std::memmove(buffer_.get(), buffer_.get() + whole, used_ - whole);
  used_ -= whole;
}

void DirectWriter::close() {
  flush_full_blocks();  // buffered: everything; direct: all but a partial block
  if (used_ > 0) {      // the tail: padded to a block, then the file cut back to its size
    const size_t tail = used_, padded = (used_ + kAlignment - 1) / kAlignment * kAlignment;
    std::memset(buffer_.get() + used_, 0, padded - used_);
    used_ = padded;
    flush_full_blocks();
    written_ = written_ - padded + tail;
    if (::ftruncate(fd_, static_cast<off_t>(written_)) != 0)
      throw IOError(fmt::format("{}: ftruncate failed: {}", path_, std::strerror(errno)));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw IOError(fmt::format("{}: close failed: {}", path_, std::strerror(errno)));
}

}  // namespace torus::io
