// .npy format 1.0: magic, version, header length, a Python dict literal, raw data.
#include "support/npy.h"

#include <fstream>
#include <regex>

namespace torus::test {
namespace {

std::string descr(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i64: return "<i8";
    case DType::i32: return "<i4";
    case DType::u8: return "|u1";
    default: throw ValueError(fmt::format("npy: dtype {} not supported", dtype_name(t)));
  }
}

DType from_descr(const std::string& d) {
  for (DType t : {DType::f32, DType::f64, DType::i64, DType::i32, DType::u8})
    if (descr(t) == d) return t;
  throw ValueError("npy: unsupported descr " + d);
}

}  // namespace

void save_npy(const std::string& path, const Tensor& t) {
  Tensor c = t.contiguous();
  std::string shape;
  for (int64_t s : c.shape()) shape += std::to_string(s) + ",";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   descr(c.dtype()), shape);
  // Pad so magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  TORUS_CHECK(out.good(), "npy: cannot write {}", path);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t length = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&length), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(c.raw_data()), static_cast<std::streamsize>(c.nbytes()));
  TORUS_CHECK(out.good(), "npy: write to {} failed", path);
}

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORUS_CHECK(in.good(), "npy: cannot open {}", path);
  char magic[8];
  in.read(magic, 8);
  TORUS_CHECK(in.good() && std::string(magic, 6) == "\x93NUMPY", "npy: {} is not a .npy file", path);
  uint16_t length = 0;
  in.read(reinterpret_cast<char*>(&length), 2);
  std::string header(length, '\0');
  in.read(header.data(), length);
  std::smatch m;
  TORUS_CHECK(std::regex_search(header, m, std::regex("'descr': '([^']+)'")), "npy: no descr in {}", path);
  const DType dtype = from_descr(m[1]);
  TORUS_CHECK(header.find("'fortran_order': False") != std::string::npos, "npy: {} is Fortran order", path);
  TORUS_CHECK(std::regex_search(header, m, std::regex("'shape': \\(([^)]*)\\)")), "npy: no shape in {}", path);
  Shape shape;
  std::string dims = m[1];
  std::regex number("[0-9]+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoll(it->str()));
  Tensor t = Tensor::empty(shape, dtype);
  in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  TORUS_CHECK(in.gcount() == static_cast<std::streamsize>(t.nbytes()), "npy: {} is truncated", path);
  return t;
}

}  // namespace torus::test
