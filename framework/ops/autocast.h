// Mixed precision for matrix products. Inside an AutocastGuard(DType::bf16), matmul and
// linear (and every layer built on them) round their f32
// operands to bf16 and multiply them with f32 accumulation into an f32 result: on a device,
// cuBLAS bf16 GEMMs on the tensor cores; on the cpu an emulation with the same numbers (a
// product of two bf16 values is exact in f32), slower than plain f32, for checking a run's
// numerics without a GPU. A product's backward runs in the precision its forward ran in,
// wherever backward() is called, so a training step holds the guard over its forward only.
// causal_attention without dropout runs in bf16 storage, every buffer rounded to bf16 and
// the math f32 (attention.cpp: the device kernels' bf16 path, emulated on the cpu).
// Parameters, gradients, optimizer state and every other op stay f32; conv2d is not cast.
//
// The autocast state is per thread, as grad mode's (grad_mode.h). Apart from it, TF32 (f32
// products on a device's tensor cores with 10-bit mantissas, ~1e-3 relative error) is one
// process-wide switch, off by default, as PyTorch's torch.backends.cuda.matmul.allow_tf32:
// it applies to f32 GEMMs and convolutions on devices and changes nothing on the cpu.
#pragma once

#include "framework/tensor/dtype.h"

namespace torus {

// The dtype matrix products round f32 operands to on this thread: f32 (no rounding) or bf16.
DType autocast_dtype();

class AutocastGuard {
 public:
  // dtype: f32 (products as written) or bf16; anything else is refused by name.
  explicit AutocastGuard(DType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DType previous_;
};

bool allow_tf32();
void set_allow_tf32(bool allow);

}  // namespace torus
