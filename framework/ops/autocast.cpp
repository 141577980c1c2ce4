// The thread's autocast dtype and the process's TF32 switch (autocast.h).
#include "framework/ops/autocast.h"

#include <atomic>

#include "kernels/common/error.h"

namespace torus {
namespace {

thread_local DType current = DType::f32;
std::atomic<bool> tf32{false};

}  // namespace

DType autocast_dtype() { return current; }

AutocastGuard::AutocastGuard(DType dtype) : previous_(current) {
  TORUS_CHECK(dtype == DType::f32 || dtype == DType::bf16,
              "autocast: matrix products run in f32 or bf16, not {}", dtype_name(dtype));
  current = dtype;
}

AutocastGuard::~AutocastGuard() { current = previous_; }

bool allow_tf32() { return tf32.load(std::memory_order_relaxed); }
void set_allow_tf32(bool allow) { tf32.store(allow, std::memory_order_relaxed); }

}  // namespace torus
