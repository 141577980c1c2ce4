// Writes a file sequentially through an aligned bounce buffer, by default with O_DIRECT,
// bypassing the page cache: on disks where buffered writes of new files crawl (the page
// cache filling, then writeback), large checkpoint files go at the device's speed. Where
// O_DIRECT is refused (EINVAL at open or on the first write: tmpfs on older kernels, some
// network file systems) the whole file is written buffered; where a short write leaves
// the offset inside a block, the rest is. Either way the caller sees no difference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace torus::io {

// Files of at least this many bytes are worth O_DIRECT; smaller ones go faster through
// the page cache.
inline constexpr uint64_t kDirectWriteBytes = uint64_t{64} << 20;

struct DirectWriterOptions {
  bool direct = true;     // false: buffered writes from the start
  bool checksum = false;  // keep the CRC-32 of the bytes written (crc32())
};

class DirectWriter {
 public:
  // Creates (truncates) `path`.
  explicit DirectWriter(std::string path, DirectWriterOptions options = {});
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  void write(const void* data, size_t n);
  // Flushes the tail, cuts the file to the bytes written, closes it. Errors here and in
  // write() are IOErrors naming the file and the errno.
  void close();

  // zlib's CRC-32 of every byte written so far; needs options.checksum.
  uint32_t crc32() const;
  // Whether writes still bypass the page cache (false once they fell back).
  bool direct() const { return direct_; }

 private:
  void flush();
  void write_out(const char* p, size_t n);
  void stop_direct();
  [[noreturn]] void fail(const char* call) const;

  std::string path_;
  int fd_ = -1;
  bool direct_ = false, checksum_ = false;
  uint32_t crc_ = 0;
  std::unique_ptr<char, void (*)(void*)> buffer_;
  size_t used_ = 0;     // bytes in the buffer
  uint64_t size_ = 0;     // bytes given to write()
  uint64_t written_ = 0;  // bytes in the file, block padding included
};

}  // namespace torus::io
