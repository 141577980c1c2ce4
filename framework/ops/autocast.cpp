// The thread's autocast dtype (autocast.h).
#include "framework/ops/autocast.h"

#include "kernels/common/error.h"

namespace torus {
namespace {

thread_local DType current = DType::f32;

}  // namespace

DType autocast_dtype() { return current; }

AutocastGuard::AutocastGuard(DType dtype) : previous_(current) {
  TORUS_CHECK(dtype == DType::f32 || dtype == DType::bf16,
              "autocast: matrix products run in f32 or bf16, not {}", dtype_name(dtype));
  current = dtype;
}

AutocastGuard::~AutocastGuard() { current = previous_; }

}  // namespace torus
