// Thread-local grad mode: each thread (a data-loader, a communication thread) has its own.
#include "framework/autograd/grad_mode.h"

namespace torus {
namespace {
thread_local bool grad_enabled = true;
}

bool GradMode::enabled() { return grad_enabled; }
void GradMode::set_enabled(bool enabled) { grad_enabled = enabled; }

}  // namespace torus
