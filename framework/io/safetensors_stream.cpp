// Streaming safetensors writer (see safetensors_stream.h). The header follows the same
// rules as save_safetensors: tensors in the given order, contiguous offsets from 0, the
// header padded with spaces so the data starts 8-byte aligned.
#include "framework/io/safetensors_stream.h"

#include <unistd.h>

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "framework/io/direct_writer.h"
#include "framework/io/durable_file.h"

namespace torus::io {

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
  out_ = std::make_unique<DirectWriter>(temporary_.string(),
                                        DirectWriterOptions{.direct = data_bytes_ >= kDirectWriteBytes});
  try {
    out_->write(prefix.data(), prefix.size());
    out_->write(text.data(), text.size());
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
