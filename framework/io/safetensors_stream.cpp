// Streaming safetensors writer (see safetensors_stream.h); the header is save_safetensors'
// (safetensors_prefix).
#include "framework/io/safetensors_stream.h"

#include <unistd.h>

#include <fmt/format.h>

#include "framework/io/direct_writer.h"
#include "framework/io/durable_file.h"

namespace torus::io {

SafetensorsStreamWriter::SafetensorsStreamWriter(std::filesystem::path path,
                                                 const std::vector<SafetensorsSpec>& tensors,
                                                 const Metadata& metadata)
    : path_(std::move(path)), temporary_(path_.string() + ".tmp") {
  const std::string prefix = safetensors_prefix(tensors, metadata, path_.string());
  for (const SafetensorsSpec& t : tensors) data_bytes_ += spec_bytes(t);
  out_ = std::make_unique<DirectWriter>(temporary_.string(),
                                        DirectWriterOptions{.direct = data_bytes_ >= kDirectWriteBytes});
  try {
    out_->write(prefix.data(), prefix.size());
  } catch (...) {
    abandon();
    throw;
  }
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (out_ != nullptr) abandon();
}

// Closes the temporary (errors do not matter any more) and removes it.
void SafetensorsStreamWriter::abandon() {
  out_.reset();
  ::unlink(temporary_.c_str());
}

void SafetensorsStreamWriter::append(const void* bytes, uint64_t size) {
  TORUS_CHECK(out_ != nullptr, "{}: written after commit", path_.string());
  TORUS_CHECK(written_ + size <= data_bytes_, "{}: {} more bytes than the header's {}", path_.string(),
              written_ + size - data_bytes_, data_bytes_);
  out_->write(bytes, size);
  written_ += size;
}

void SafetensorsStreamWriter::commit() {
  TORUS_CHECK(out_ != nullptr, "{}: committed twice", path_.string());
  TORUS_CHECK(written_ == data_bytes_, "{}: {} of the header's {} data bytes written", path_.string(), written_,
              data_bytes_);
  try {
    out_->close();
    sync_path(temporary_);  // O_DIRECT skips the page cache, not the disk's: the data and size made durable
  } catch (...) {
    abandon();
    throw;
  }
  out_.reset();
  rename_durably(temporary_, path_);
}

}  // namespace torus::io
