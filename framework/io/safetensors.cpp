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

#include "framework/io/direct_writer.h"

namespace torus::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three deep (header, entry, shape); the bound keeps a hostile
// header from making the parser build arbitrarily deep values.
constexpr int kMaxJsonDepth = 8;

// The Torus dtypes, as the format spells them.
const std::pair<DType, const char*> kDtypeNames[] = {
    {DType::f32, "F32"}, {DType::f64, "F64"}, {DType::bf16, "BF16"}, {DType::f16, "F16"},
    {DType::i32, "I32"}, {DType::i64, "I64"}, {DType::u8, "U8"}};

// Every dtype of the format, with its size in bits: sub-byte dtypes are packed, and a
// tensor of them must fill whole bytes.
struct FormatDtype {
  const char* name;
  uint64_t bits;
};
constexpr FormatDtype kFormatDtypes[] = {
    {"BOOL", 8},     {"U8", 8},       {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8},
    {"F4", 4},       {"F6_E2M3", 6},  {"F6_E3M2", 6}, {"I16", 16}, {"U16", 16},    {"F16", 16},
    {"BF16", 16},    {"I32", 32},     {"U32", 32}, {"F32", 32},    {"C64", 64},    {"F64", 64},
    {"I64", 64},     {"U64", 64}};

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw IOError(fmt::format("{}: not a valid safetensors file: {}", name, problem));
}

uint64_t dtype_bits(const std::string& text, const std::string& name, const std::string& tensor) {
  for (const FormatDtype& d : kFormatDtypes)
    if (text == d.name) return d.bits;
  fail(name, fmt::format("tensor '{}' has an unknown dtype '{}'", tensor, text));
}

// Parses JSON, rejecting duplicate keys in any object (nlohmann keeps the last silently)
// and nesting deeper than any valid header.
nlohmann::json parse_header_json(const uint8_t* begin, const uint8_t* end, const std::string& name) {
  std::vector<std::set<std::string>> keys_per_object;
  int depth = 0;
  std::string duplicate;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      if (++depth > kMaxJsonDepth)
        fail(name, fmt::format("header nests JSON more than {} levels deep (a valid one nests 3)", kMaxJsonDepth));
      if (event == Event::object_start) keys_per_object.emplace_back();
    }
    if (event == Event::object_end || event == Event::array_end) {
      --depth;
      if (event == Event::object_end) keys_per_object.pop_back();
    }
    if (event == Event::key && !keys_per_object.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(begin, end, callback);
  } catch (const nlohmann::json::exception& e) {
    fail(name, fmt::format("header is not valid UTF-8 JSON ({})", e.what()));
  }
  if (!duplicate.empty()) fail(name, fmt::format("header names '{}' twice", duplicate));
  if (!header.is_object()) fail(name, "header is not a JSON object");
  return header;
}

SafetensorsEntry parse_entry(const std::string& tensor, const nlohmann::json& spec, const std::string& name) {
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
  SafetensorsEntry entry{tensor, spec["dtype"].get<std::string>(), {}, 0, 0};
  const uint64_t bits = dtype_bits(entry.dtype, name, tensor);
  // Element and bit counts stay below 2^63 so byte ranges and int64 shapes never wrap.
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t elements = 1;
  for (const auto& dim : spec["shape"]) {
    if (!dim.is_number_unsigned())
      fail(name, fmt::format("entry '{}' has a shape entry {} that is not a non-negative integer", tensor, dim.dump()));
    const uint64_t size = dim.get<uint64_t>();
    if (size > kLimit || (size != 0 && elements > kLimit / size / bits))
      fail(name, fmt::format("entry '{}' has a shape whose byte count overflows", tensor));
    elements *= size;
    entry.shape.push_back(static_cast<int64_t>(size));
  }
  if (elements * bits % 8 != 0)
    fail(name, fmt::format("entry '{}' holds {} elements of {}, which do not fill whole bytes", tensor, elements,
                           entry.dtype));
  const uint64_t bytes = elements * bits / 8;
  const auto& offsets = spec["data_offsets"];
  if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    fail(name, fmt::format("entry '{}' has data_offsets that are not non-negative integers", tensor));
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end)
    fail(name, fmt::format("entry '{}' has data_offsets [{}, {}] that end before they begin", tensor, entry.begin, entry.end));
  if (entry.end - entry.begin != bytes)
    fail(name, fmt::format("entry '{}' spans {} bytes but {} {} needs {}", tensor, entry.end - entry.begin,
                           entry.dtype, shape_str(entry.shape), bytes));
  return entry;
}

// Tensors viewing `backing` for each entry of a validated index.
SafetensorsContents to_contents(const std::shared_ptr<Storage>& backing, const SafetensorsIndex& index,
                                const std::string& name) {
  const auto* bytes = static_cast<const uint8_t*>(backing->data());
  SafetensorsContents contents;
  contents.metadata = index.metadata;
  for (const SafetensorsEntry& e : index.entries) {
    const auto known = std::find_if(std::begin(kDtypeNames), std::end(kDtypeNames),
                                    [&](const auto& pair) { return e.dtype == pair.second; });
    if (known == std::end(kDtypeNames))
      throw IOError(fmt::format("{}: tensor '{}' has dtype {}, which Torus cannot load (it loads F32, F64, BF16, "
                                "F16, I32, I64, U8); `torus ckpt inspect` lists such files",
                                name, e.name, e.dtype));
    const DType dtype = known->first;
    const uint64_t byte_offset = index.data_start + e.begin;
    if (byte_offset % dtype_size(dtype) == 0) {
      auto impl = std::make_shared<TensorImpl>();
      impl->storage = backing;
      impl->shape = e.shape;
      impl->strides = contiguous_strides(e.shape);
      impl->dtype = dtype;
      impl->offset = static_cast<int64_t>(byte_offset / dtype_size(dtype));
      contents.tensors.emplace_back(e.name, Tensor(std::move(impl)));
    } else {
      // Misaligned for its dtype (legal in the format): copy into an aligned buffer.
      Tensor copy = Tensor::empty(e.shape, dtype);
      std::memcpy(copy.raw_data(), bytes + byte_offset, e.end - e.begin);
      contents.tensors.emplace_back(e.name, copy);
    }
  }
  return contents;
}

}  // namespace

std::string safetensors_dtype_name(DType dtype) {
  for (const auto& [d, spelled] : kDtypeNames)
    if (d == dtype) return spelled;
  throw Error("safetensors: unknown dtype");
}

uint64_t spec_bytes(const SafetensorsSpec& spec) {
  uint64_t n = dtype_size(spec.dtype);
  for (int64_t d : spec.shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string safetensors_prefix(const std::vector<SafetensorsSpec>& tensors, const Metadata& metadata,
                               const std::string& who) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsSpec& t : tensors) {
    TORUS_CHECK(t.name != "__metadata__" && names.insert(t.name).second, "{}: tensor name '{}' is reserved or repeated",
                who, t.name);
    for (int64_t d : t.shape) TORUS_CHECK(d >= 0, "{}: tensor '{}' has a negative dimension", who, t.name);
    const uint64_t bytes = spec_bytes(t);
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  return prefix + text;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata,
                      uint32_t* checksum) {
  std::vector<SafetensorsSpec> specs;
  std::vector<Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    specs.push_back({name, t.dtype(), t.shape()});
    contiguous.push_back(t.detach().to(Device::cpu()).contiguous());  // device tensors: a host copy
    offset += t.nbytes();
  }
  const std::string prefix = safetensors_prefix(specs, metadata, "save_safetensors");

  // Large files bypass the page cache; the checksum is taken as the bytes go by.
  DirectWriter out(path, {.direct = offset >= kDirectWriteBytes, .checksum = checksum != nullptr});
  out.write(prefix.data(), prefix.size());
  for (const Tensor& t : contiguous) out.write(t.raw_data(), t.nbytes());
  out.close();
  if (checksum != nullptr) *checksum = out.crc32();
}

SafetensorsIndex parse_safetensors_index(const uint8_t* bytes, uint64_t size, const std::string& name) {
  if (size < 8) fail(name, fmt::format("{} bytes is too short for the 8-byte header length", size));
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  if (header_size > kMaxHeaderBytes)
    fail(name, fmt::format("header length {} exceeds the limit of {} bytes", header_size, kMaxHeaderBytes));
  if (header_size > size - 8)
    fail(name, fmt::format("header length {} runs past the end of the {}-byte file", header_size, size));
  const nlohmann::json header = parse_header_json(bytes + 8, bytes + 8 + header_size, name);

  SafetensorsIndex index;
  index.data_start = 8 + header_size;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(name, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(name, fmt::format("__metadata__ value of '{}' is not a string", m.key()));
        index.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    index.entries.push_back(parse_entry(it.key(), *it, name));
  }
  std::sort(index.entries.begin(), index.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const SafetensorsEntry& e : index.entries) {
    if (e.begin != expected)
      fail(name, fmt::format("tensor '{}' starts at byte {} of the data, expected {} (a gap or an overlap)",
                             e.name, e.begin, expected));
    expected = e.end;
  }
  if (expected != size - index.data_start)
    fail(name, fmt::format("the tensors cover {} bytes of data but the file holds {} after the header",
                           expected, size - index.data_start));
  return index;
}

SafetensorsContents parse_safetensors(const std::shared_ptr<Storage>& backing, const std::string& name) {
  const SafetensorsIndex index =
      parse_safetensors_index(static_cast<const uint8_t*>(backing->data()), backing->nbytes(), name);
  return to_contents(backing, index, name);
}

MappedSafetensors map_safetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IOError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int saved = errno;
    ::close(fd);
    throw IOError(fmt::format("{}: cannot stat: {}", path, std::strerror(saved)));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw IOError(fmt::format("{}: not a regular file", path));
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
  MappedSafetensors file;
  file.backing = std::make_shared<Storage>(mapped, size, Device::cpu(), [size](void* p) {
    if (p != nullptr) ::munmap(p, size);
  });
  file.index = parse_safetensors_index(static_cast<const uint8_t*>(mapped), size, path);
  return file;
}

SafetensorsContents load_safetensors(const std::string& path) {
  const MappedSafetensors file = map_safetensors(path);
  return to_contents(file.backing, file.index, path);
}

}  // namespace torus::io
