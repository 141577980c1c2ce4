// safetensors reading and writing (see safetensors.h). The reader follows the rules of
// the reference implementation: header size bounded and inside the file, UTF-8 JSON
// object, known dtypes, non-negative shapes whose byte counts do not overflow, offsets
// contiguous from 0 with no gap or overlap and ending exactly at the end of the file,
// string metadata, no duplicate names.
#include "framework/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

namespace torus::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const std::pair<DType, const char*> kDtypeNames[] = {
    {DType::f32, "F32"}, {DType::f64, "F64"}, {DType::bf16, "BF16"}, {DType::f16, "F16"},
    {DType::i32, "I32"}, {DType::i64, "I64"}, {DType::u8, "U8"}};

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw IOError(fmt::format("{}: not a valid safetensors file: {}", name, problem));
}

DType parse_dtype(const std::string& text, const std::string& name, const std::string& tensor) {
  for (const auto& [dtype, spelled] : kDtypeNames)
    if (text == spelled) return dtype;
  fail(name, fmt::format("tensor '{}' has dtype '{}', which Torus does not support "
                         "(F32, F64, BF16, F16, I32, I64, U8)", tensor, text));
}

// Parses JSON, rejecting duplicate keys in any object (nlohmann keeps the last silently).
nlohmann::json parse_header_json(const std::string& text, const std::string& name) {
  std::vector<std::set<std::string>> keys_per_object;
  std::string duplicate;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) keys_per_object.emplace_back();
    if (event == Event::object_end) keys_per_object.pop_back();
    if (event == Event::key && !keys_per_object.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    fail(name, fmt::format("header is not valid UTF-8 JSON ({})", e.what()));
  }
  if (!duplicate.empty()) fail(name, fmt::format("header names '{}' twice", duplicate));
  if (!header.is_object()) fail(name, "header is not a JSON object");
  return header;
}

struct Entry {
  std::string tensor;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& tensor, const nlohmann::json& spec, const std::string& name) {
  if (!spec.is_object()) fail(name, fmt::format("entry '{}' is not an object", tensor));
  for (auto it = spec.begin(); it != spec.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      fail(name, fmt::format("entry '{}' has an unknown field '{}'", tensor, it.key()));
  if (!spec.contains("dtype") || !spec["dtype"].is_string())
    fail(name, fmt::format("entry '{}' has no dtype string", tensor));
  if (!spec.contains("shape") || !spec["shape"].is_array())
    fail(name, fmt::format("entry '{}' has no shape list", tensor));
  if (!spec.contains("data_offsets") || !spec["data_offsets"].is_array() || spec["data_offsets"].size() != 2)
    fail(name, fmt::format("entry '{}' needs data_offsets [begin, end]", tensor));
  Entry entry{tensor, parse_dtype(spec["dtype"].get<std::string>(), name, tensor), {}, 0, 0};
  uint64_t bytes = dtype_size(entry.dtype);
  for (const auto& dim : spec["shape"]) {
    if (!dim.is_number_unsigned())
      fail(name, fmt::format("entry '{}' has a shape entry {} that is not a non-negative integer", tensor, dim.dump()));
    const uint64_t size = dim.get<uint64_t>();
    if (size != 0 && bytes > std::numeric_limits<int64_t>::max() / size)
      fail(name, fmt::format("entry '{}' has a shape whose byte count overflows", tensor));
    bytes *= size;
    entry.shape.push_back(static_cast<int64_t>(size));
  }
  const auto& offsets = spec["data_offsets"];
  if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    fail(name, fmt::format("entry '{}' has data_offsets that are not non-negative integers", tensor));
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end)
    fail(name, fmt::format("entry '{}' has data_offsets [{}, {}] that end before they begin", tensor, entry.begin, entry.end));
  if (entry.end - entry.begin != bytes)
    fail(name, fmt::format("entry '{}' spans {} bytes but {} {} needs {}", tensor, entry.end - entry.begin,
                           spec["dtype"].get<std::string>(), shape_str(entry.shape), bytes));
  return entry;
}

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t written = ::write(fd, p, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw IOError(fmt::format("{}: write failed: {}", path, std::strerror(errno)));
    }
    p += written;
    n -= static_cast<size_t>(written);
  }
}

}  // namespace

std::string safetensors_dtype_name(DType dtype) {
  for (const auto& [d, spelled] : kDtypeNames)
    if (d == dtype) return spelled;
  throw Error("safetensors: unknown dtype");
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::vector<Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TORUS_CHECK(name != "__metadata__" && names.insert(name).second,
                "save_safetensors: tensor name '{}' is reserved or repeated", name);
    TORUS_CHECK(t.device().is_cpu(), "save_safetensors: tensor '{}' is on {}", name, t.device().str());
    contiguous.push_back(t.detach().contiguous());
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  const uint64_t length = text.size();
  uint8_t length_le[8];
  for (int i = 0; i < 8; ++i) length_le[i] = static_cast<uint8_t>(length >> (8 * i));

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IOError(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  try {
    write_all(fd, length_le, 8, path);
    write_all(fd, text.data(), text.size(), path);
    for (const Tensor& t : contiguous) write_all(fd, t.raw_data(), t.nbytes(), path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw IOError(fmt::format("{}: close failed: {}", path, std::strerror(errno)));
}

SafetensorsContents parse_safetensors(const std::shared_ptr<Storage>& backing, const std::string& name) {
  const auto* bytes = static_cast<const uint8_t*>(backing->data());
  const uint64_t size = backing->nbytes();
  if (size < 8) fail(name, fmt::format("{} bytes is too short for the 8-byte header length", size));
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  if (header_size > kMaxHeaderBytes)
    fail(name, fmt::format("header length {} exceeds the limit of {} bytes", header_size, kMaxHeaderBytes));
  if (header_size > size - 8)
    fail(name, fmt::format("header length {} runs past the end of the {}-byte file", header_size, size));
  const nlohmann::json header =
      parse_header_json(std::string(reinterpret_cast<const char*>(bytes + 8), header_size), name);

  SafetensorsContents contents;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(name, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(name, fmt::format("__metadata__ value of '{}' is not a string", m.key()));
        contents.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), *it, name));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_start = 8 + header_size;
  uint64_t expected = 0;
  for (const Entry& e : entries) {
    if (e.begin != expected)
      fail(name, fmt::format("tensor '{}' starts at byte {} of the data, expected {} (a gap or an overlap)",
                             e.tensor, e.begin, expected));
    expected = e.end;
  }
  if (data_start + expected != size)
    fail(name, fmt::format("the tensors cover {} bytes of data but the file holds {} after the header",
                           expected, size - data_start));
  for (const Entry& e : entries) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = backing;
    impl->shape = e.shape;
    impl->strides = contiguous_strides(e.shape);
    impl->dtype = e.dtype;
    const uint64_t byte_offset = data_start + e.begin;
    if (byte_offset % dtype_size(e.dtype) == 0) {
      impl->offset = static_cast<int64_t>(byte_offset / dtype_size(e.dtype));
      contents.tensors.emplace_back(e.tensor, Tensor(std::move(impl)));
    } else {
      // Misaligned for its dtype (legal in the format): copy into an aligned buffer.
      Tensor copy = Tensor::empty(e.shape, e.dtype);
      std::memcpy(copy.raw_data(), bytes + byte_offset, e.end - e.begin);
      contents.tensors.emplace_back(e.tensor, copy);
    }
  }
  return contents;
}

SafetensorsContents load_safetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IOError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int saved = errno;
    ::close(fd);
    throw IOError(fmt::format("{}: cannot stat: {}", path, std::strerror(saved)));
  }
  const size_t size = static_cast<size_t>(info.st_size);
  void* mapped = nullptr;
  if (size > 0) {
    mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      const int saved = errno;
      ::close(fd);
      throw IOError(fmt::format("{}: cannot map: {}", path, std::strerror(saved)));
    }
  }
  ::close(fd);  // the mapping stays valid
  auto storage = std::make_shared<Storage>(mapped, size, Device::cpu(), [size](void* p) {
    if (p != nullptr) ::munmap(p, size);
  });
  return parse_safetensors(storage, path);
}

}  // namespace torus::io
