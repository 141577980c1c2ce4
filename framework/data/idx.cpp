// IDX reading through zlib's gz* API, which reads plain and gzip files alike.
#include "framework/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace torus::data {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// zlib's reason for the last error, without the "path: " it puts in front.
std::string zlib_reason(gzFile file, const std::string& path) {
  int code = 0;
  std::string reason = gzerror(file, &code);
  if (reason.rfind(path + ": ", 0) == 0) reason.erase(0, path.size() + 2);
  return reason;
}

// Reads exactly n bytes or throws, naming what was being read.
void read_exact(gzFile file, void* dst, size_t n, const std::string& path, const char* what) {
  char* out = static_cast<char*>(dst);
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    const int got = gzread(file, out, chunk);
    if (got < 0) throw IOError(fmt::format("{}: read error in {}: {}", path, what, zlib_reason(file, path)));
    if (got == 0) throw IOError(fmt::format("{}: file is truncated (in {})", path, what));
    out += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace

Tensor read_idx(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) throw IOError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::array<uint8_t, 4> magic{};
  read_exact(file.get(), magic.data(), 4, path, "the header");
  if (magic[0] != 0 || magic[1] != 0)
    throw IOError(fmt::format("{}: not an IDX file (bad magic)", path));
  if (magic[2] != 0x08)
    throw IOError(fmt::format("{}: IDX element type 0x{:02x} is not supported (only unsigned bytes)",
                              path, magic[2]));
  const int ndims = magic[3];
  if (ndims < 1 || ndims > 4) throw IOError(fmt::format("{}: IDX with {} dims is not supported", path, ndims));
  Shape shape;
  int64_t numel = 1;
  for (int d = 0; d < ndims; ++d) {
    std::array<uint8_t, 4> be{};
    read_exact(file.get(), be.data(), 4, path, "the dimensions");
    const int64_t size = (int64_t{be[0]} << 24) | (int64_t{be[1]} << 16) | (int64_t{be[2]} << 8) | be[3];
    // Bound the product before allocating: sizes come from the file.
    if (size == 0 || numel > (int64_t{1} << 40) / size)
      throw IOError(fmt::format("{}: implausible IDX dimension {} of size {}", path, d, size));
    numel *= size;
    shape.push_back(size);
  }
  Tensor out = Tensor::empty(shape, DType::u8);
  read_exact(file.get(), out.raw_data(), static_cast<size_t>(numel), path, "the data");
  // Reading past the data also makes zlib check the gzip trailer (CRC-32 and length),
  // which reports corruption that the data bytes alone do not show.
  char extra;
  const int after = gzread(file.get(), &extra, 1);
  if (after > 0) throw IOError(fmt::format("{}: file holds more data than its header says", path));
  if (after < 0)
    throw IOError(fmt::format("{}: read error after the data: {}", path, zlib_reason(file.get(), path)));
  return out;
}

}  // namespace torus::data
