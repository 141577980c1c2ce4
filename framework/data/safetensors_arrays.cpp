// safetensors array files: the format is validated by framework/io; here, the rules
// for x and y.
#include "framework/data/safetensors_arrays.h"

#include "framework/io/safetensors.h"

namespace torus::data {
namespace {

const Tensor& find_tensor(const NamedTensors& tensors, const std::string& name, const std::string& path) {
  for (const auto& [tensor_name, tensor] : tensors)
    if (tensor_name == name) return tensor;
  throw IOError(fmt::format("{}: has no tensor '{}' (an array file needs tensors 'x' and 'y')", path, name));
}

bool is_integer(DType dtype) { return dtype == DType::i32 || dtype == DType::i64 || dtype == DType::u8; }

// Bytes of a converted copy; only conversions allocate (a matching dtype is read in place).
uint64_t converted_bytes(const Tensor& t, DType to) {
  return t.dtype() == to ? 0 : static_cast<uint64_t>(t.numel()) * dtype_size(to);
}

}  // namespace

std::shared_ptr<ArrayDataset> load_safetensors_arrays(const std::string& path, const ArrayFileOptions& options) {
  TORUS_CHECK(options.input_dtype == DType::f32 || options.input_dtype == DType::f64,
              "{}: array input dtype must be f32 or f64, got {}", path, dtype_name(options.input_dtype));
  const io::SafetensorsContents contents = io::load_safetensors(path);
  const Tensor& x = find_tensor(contents.tensors, "x", path);
  const Tensor& y = find_tensor(contents.tensors, "y", path);
  if (x.dtype() != DType::f32 && x.dtype() != DType::f64)
    throw IOError(fmt::format("{}: x is {}, expected F32 or F64", path, io::safetensors_dtype_name(x.dtype())));
  if (!is_integer(y.dtype()) && y.dtype() != DType::f32 && y.dtype() != DType::f64)
    throw IOError(fmt::format("{}: y is {}, expected an integer dtype (class indices) or F32/F64", path,
                              io::safetensors_dtype_name(y.dtype())));
  const DType target_dtype = target_dtype_for(is_integer(y.dtype()), options.input_dtype);
  const uint64_t bytes = converted_bytes(x, options.input_dtype) + converted_bytes(y, target_dtype);
  if (bytes > options.max_bytes)
    throw IOError(fmt::format("{}: converting x and y takes {} bytes, more than the limit of {} "
                              "(ArrayFileOptions::max_bytes)",
                              path, bytes, options.max_bytes));
  // The tensors view the mapping, which they keep alive; ArrayDataset checks the shapes.
  return std::make_shared<ArrayDataset>(x.to(options.input_dtype), y.to(target_dtype), path, options.num_classes);
}

}  // namespace torus::data
