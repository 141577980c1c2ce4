// Argument checks every backend applies before it queues an op.
#include "distributed/comm/process_group.h"

namespace torus::comm {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::average: return "average";
  }
  return "?";
}

namespace detail {

void check_tensor(const char* op, const Tensor& tensor, const char* what) {
  TORUS_CHECK(tensor.defined(), "{}: {} is an undefined tensor", op, what);
  TORUS_CHECK(tensor.device().is_cpu(),
              "{}: {} is on {}; this process group takes host tensors (device tensors need "
              "the NCCL process group)",
              op, what, tensor.device().str());
  TORUS_CHECK(tensor.is_contiguous(), "{}: {} of shape {} is not contiguous (call .contiguous())",
              op, what, tensor.shape_str());
}

void check_reducible(const char* op, DType dtype, ReduceOp reduce_op) {
  const bool reducible = dtype == DType::f32 || dtype == DType::f64 || dtype == DType::bf16 ||
                         dtype == DType::i32 || dtype == DType::i64;
  TORUS_CHECK(reducible, "{}: cannot reduce dtype {} (use f32, f64, bf16, i32 or i64)", op,
              dtype_name(dtype));
  TORUS_CHECK(reduce_op != ReduceOp::average || is_floating(dtype),
              "{}: average of {} would truncate; use sum on integer tensors", op,
              dtype_name(dtype));
}

void check_same_dtype(const char* op, const Tensor& input, const Tensor& output) {
  TORUS_CHECK(input.dtype() == output.dtype(), "{}: input is {} but output is {}", op,
              dtype_name(input.dtype()), dtype_name(output.dtype()));
}

void check_multiple(const char* op, const Tensor& small, const Tensor& large, int size,
                    const char* small_name, const char* large_name) {
  TORUS_CHECK(small.numel() * size == large.numel(),
              "{}: {} has {} elements and {} {}; with {} ranks it needs {} elements", op,
              large_name, large.numel(), small_name, small.numel(), size, small.numel() * size);
}

void check_root(const char* op, int root, int size) {
  TORUS_CHECK(root >= 0 && root < size, "{}: root {} is not a rank of this group of {}", op, root,
              size);
}

std::string op_label(const char* op, const std::string& detail) {
  return detail.empty() ? std::string(op) : fmt::format("{}({})", op, detail);
}

}  // namespace detail
}  // namespace torus::comm
