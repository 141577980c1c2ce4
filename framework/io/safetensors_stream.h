// A safetensors file written tensor by tensor from bytes that arrive in pieces: the
// header is computed from the names, dtypes and shapes first, so a tensor larger than
// memory (a consolidated export read from mapped shards) is never assembled. The file is
// durable (framework/io/durable_file.h): written as `path`.tmp, fsynced, renamed. Files of
// kDirectWriteBytes of data and more bypass the page cache, as save_safetensors' do
// (framework/io/direct_writer.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "framework/io/safetensors.h"

namespace torus::io {

class DirectWriter;

class SafetensorsStreamWriter {
 public:
  // Creates `path`.tmp and writes the header for `tensors`, whose data follow in this order.
  SafetensorsStreamWriter(std::filesystem::path path, const std::vector<SafetensorsSpec>& tensors,
                          const Metadata& metadata);
  // A file never committed is closed and its temporary removed.
  ~SafetensorsStreamWriter();
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // The next bytes of the data section (tensors back to back, in order).
  void append(const void* bytes, uint64_t size);
  // Every byte written: fsync, close, rename over `path`, fsync of its directory.
  void commit();

 private:
  void abandon();

  std::filesystem::path path_, temporary_;
  std::unique_ptr<DirectWriter> out_;  // null once committed or abandoned
  uint64_t data_bytes_ = 0, written_ = 0;
};

}  // namespace torus::io
