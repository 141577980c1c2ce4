// O_DIRECT sequential writer (see direct_writer.h).
#include "framework/io/direct_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "framework/io/direct_writer_seam.h"
#include "framework/io/durable_file.h"
#include "kernels/common/error.h"

namespace torus::io {
namespace {

constexpr size_t kAlignment = 4096;  // O_DIRECT's unit of offset, size and address
constexpr size_t kBufferBytes = size_t{8} << 20;
// Bytes copied into the buffer at a time: the checksum then reads them from the cache.
constexpr size_t kCopyBytes = size_t{1} << 20;

seam::WriteCall g_write = nullptr;

ssize_t call_write(int fd, const void* data, size_t n) { return g_write ? g_write(fd, data, n) : ::write(fd, data, n); }

void* aligned_buffer() {
  void* p = nullptr;
  if (::posix_memalign(&p, kAlignment, kBufferBytes) != 0) throw IOError("DirectWriter: out of memory");
  return p;
}

}  // namespace

seam::WriteCall seam::replace_direct_writer_write(WriteCall call) { return std::exchange(g_write, call); }

DirectWriter::DirectWriter(std::string path, DirectWriterOptions options)
    : path_(std::move(path)), checksum_(options.checksum), buffer_(static_cast<char*>(aligned_buffer()), std::free) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  if (options.direct) {
    fd_ = ::open(path_.c_str(), kFlags | O_DIRECT, 0644);
    direct_ = fd_ >= 0;
  }
  if (fd_ < 0 && (!options.direct || errno == EINVAL)) fd_ = ::open(path_.c_str(), kFlags, 0644);
  if (fd_ < 0) fail("open");
}

DirectWriter::~DirectWriter() {
  if (fd_ >= 0) ::close(fd_);  // only on an error path: close() reports its own
}

void DirectWriter::fail(const char* call) const {
  const int saved = errno;
  throw IOError(fmt::format("{}: {} failed: {} (errno {})", path_, call, std::strerror(saved), saved));
}

uint32_t DirectWriter::crc32() const {
  TORUS_CHECK(checksum_, "{}: DirectWriter::crc32 needs DirectWriterOptions::checksum", path_);
  return crc_;
}

void DirectWriter::write(const void* data, size_t n) {
  TORUS_CHECK(fd_ >= 0, "{}: written after close", path_);
  const char* p = static_cast<const char*>(data);
  size_ += n;
  if (!direct_ && n >= kBufferBytes) {  // buffered: a large span needs no copy
    flush();
    if (checksum_) crc_ = crc32_update(crc_, p, n);
    write_out(p, n);
    return;
  }
  while (n > 0) {
    const size_t take = std::min({n, kBufferBytes - used_, kCopyBytes});
    std::memcpy(buffer_.get() + used_, p, take);
    if (checksum_) crc_ = crc32_update(crc_, buffer_.get() + used_, take);
    used_ += take;
    p += take;
    n -= take;
    if (used_ == kBufferBytes) flush();
  }
}

// Writes the buffer: all of it when buffered; under O_DIRECT the whole blocks, the
// partial last one staying for more bytes or close().
void DirectWriter::flush() {
  const size_t whole = direct_ ? used_ / kAlignment * kAlignment : used_;
  write_out(buffer_.get(), whole);
  std::memmove(buffer_.get(), buffer_.get() + whole, used_ - whole);
  used_ -= whole;
}

void DirectWriter::write_out(const char* p, size_t n) {
  while (n > 0) {
    const ssize_t done = call_write(fd_, p, n);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0 && errno == EINVAL && direct_ && written_ == 0) {  // O_DIRECT refused: the file goes buffered
      stop_direct();
      continue;
    }
    if (done < 0) fail("write");
    if (done == 0) throw IOError(fmt::format("{}: write wrote nothing with {} bytes left", path_, n));
    p += done;
    n -= static_cast<size_t>(done);
    written_ += static_cast<uint64_t>(done);
    // A short write that ends inside a block leaves an offset O_DIRECT cannot write at.
    if (direct_ && written_ % kAlignment != 0) stop_direct();
  }
}

// Clears O_DIRECT on the descriptor, which keeps its offset: the rest goes buffered.
void DirectWriter::stop_direct() {
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) fail("fcntl(F_GETFL)");
  if (::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) fail("fcntl(F_SETFL) clearing O_DIRECT");
  direct_ = false;
}

void DirectWriter::close() {
  TORUS_CHECK(fd_ >= 0, "{}: closed twice", path_);
  flush();  // buffered: everything; direct: all but a partial block
  if (used_ > 0) {  // the partial block: padded to a whole one, the file cut back below
    const size_t padded = (used_ + kAlignment - 1) / kAlignment * kAlignment;
    std::memset(buffer_.get() + used_, 0, padded - used_);
    write_out(buffer_.get(), padded);
    used_ = 0;
  }
  if (written_ != size_ && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) fail("ftruncate");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close");
}

}  // namespace torus::io
