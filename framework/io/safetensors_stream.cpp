// Streaming safetensors writer (see safetensors_stream.h). The header follows the same
// rules as save_safetensors: tensors in the given order, contiguous offsets from 0, the
// header padded with spaces so the data starts 8-byte aligned.
#include "framework/io/safetensors_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/io/durable_file.h"

namespace torus::io {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const char* what) {
  throw IOError(fmt::format("{}: {} failed: {}", path.string(), what, std::strerror(errno)));
}

void write_all(int fd, const void* bytes, uint64_t size, const std::filesystem::path& path) {
  const char* p = static_cast<const char*>(bytes);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "write");
    p += n;
    size -= static_cast<uint64_t>(n);
  }
}

}  // namespace

uint64_t spec_bytes(const SafetensorsSpec& spec) {
  uint64_t n = dtype_size(spec.dtype);
  for (int64_t d : spec.shape) n *= static_cast<uint64_t>(d);
  return n;
}

SafetensorsStreamWriter::SafetensorsStreamWriter(std::filesystem::path path,
                                                 const std::vector<SafetensorsSpec>& tensors,
                                                 const Metadata& metadata)
    : path_(std::move(path)), temporary_(path_.string() + ".tmp") {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  for (const SafetensorsSpec& t : tensors) {
    TORUS_CHECK(t.name != "__metadata__" && names.insert(t.name).second,
                "{}: tensor name '{}' is reserved or repeated", path_.string(), t.name);
    for (int64_t d : t.shape) TORUS_CHECK(d >= 0, "{}: tensor '{}' has a negative dimension", path_.string(), t.name);
    const uint64_t bytes = spec_bytes(t);
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {data_bytes_, data_bytes_ + bytes}}};
    data_bytes_ += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(temporary_, "open");
  try {
    write_all(fd_, prefix.data(), prefix.size(), temporary_);
    write_all(fd_, text.data(), text.size(), temporary_);
  } catch (...) {
    ::close(fd_);
    ::unlink(temporary_.c_str());
    throw;
  }
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (fd_ < 0) return;
  ::close(fd_);  // abandoned: errors do not matter, the temporary goes
  ::unlink(temporary_.c_str());
}

void SafetensorsStreamWriter::append(const void* bytes, uint64_t size) {
  TORUS_CHECK(fd_ >= 0, "{}: written after commit", path_.string());
  TORUS_CHECK(written_ + size <= data_bytes_, "{}: {} more bytes than the header's {}", path_.string(),
              written_ + size - data_bytes_, data_bytes_);
  write_all(fd_, bytes, size, temporary_);
  written_ += size;
}

void SafetensorsStreamWriter::commit() {
  TORUS_CHECK(fd_ >= 0, "{}: committed twice", path_.string());
  TORUS_CHECK(written_ == data_bytes_, "{}: {} of the header's {} data bytes written", path_.string(), written_,
              data_bytes_);
  if (::fsync(fd_) != 0) fail(temporary_, "fsync");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(temporary_.c_str());
    fail(temporary_, "close");
  }
  rename_durably(temporary_, path_);
}

}  // namespace torus::io
