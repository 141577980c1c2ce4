// Writes a file sequentially through O_DIRECT from an aligned bounce buffer, bypassing
// the page cache: on disks where buffered writes of new files crawl (the page cache
// filling, then writeback), large checkpoint files go at the device's speed. Falls back
// to buffered writes where the file system refuses O_DIRECT (tmpfs, some overlays).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace torus::io {

class DirectWriter {
 public:
  // Creates (truncates) `path`.
  explicit DirectWriter(std::string path);
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  void write(const void* data, size_t n);
  // Flushes the tail, cuts the file to the bytes written, closes it. Errors are IOErrors
  // naming the file.
  void close();

 private:
  void flush_full_blocks();

  std::string path_;
  int fd_ = -1;
  bool direct_ = false;
  std::unique_ptr<char, void (*)(void*)> buffer_;
  size_t used_ = 0;      // bytes in the buffer
  size_t written_ = 0;   // bytes in the file
};

}  // namespace torus::io
