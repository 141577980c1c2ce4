// What the two CUDA columns of the op files (cuda_kernels.cpp, cuda_nn_kernels.cpp) share:
// a tensor's device context, and the checks every launch makes on its tensors. CUDA
// builds only; not part of the public headers' API.
#pragma once

#include <string_view>

#include "framework/ops/cuda_kernels.h"
#include "kernels/cuda/device_context.h"

namespace torus::cuda_launch {

// The context of t's device, made current on this thread. Never for a cpu tensor: its
// host pointer must not reach a kernel.
inline cuda::DeviceContext& context_of(const Tensor& t) {
  TORUS_ASSERT(cuda_kernels::on_cuda(t), "a CUDA kernel was given a tensor on {}", t.device().str());
  cuda::DeviceContext& ctx = cuda::device_context(t.device().index);
  ctx.make_current();
  return ctx;
}

inline cuda::Stream stream_of(const Tensor& t) { return context_of(t).compute_stream(); }

inline void check_f32(const Tensor& t, std::string_view op) {
  if (t.dtype() != DType::f32)
    throw NotImplementedError(fmt::format("{}: no CUDA kernel for dtype {} yet (f32 only); convert with .to(DType::f32)",
                                          op, dtype_name(t.dtype())));
}

// t on anchor's device: itself, or a 0-dim cpu tensor (a scalar operand, an upstream
// scalar gradient) moved there, as PyTorch takes cpu scalars.
inline Tensor operand_on(const Tensor& t, const Tensor& anchor, std::string_view op) {
  if (t.device() == anchor.device()) return t;
  if (t.device().is_cpu() && t.dim() == 0) return t.to(anchor.device());
  throw ValueError(fmt::format("{}: operands on different devices ({} and {}); move one with .to()", op,
                               anchor.device().str(), t.device().str()));
}

}  // namespace torus::cuda_launch
