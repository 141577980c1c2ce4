// cuda_conv_kernels.h in a build without cuDNN (TORUS_WITH_CUDA or TORUS_WITH_CUDNN off):
// each refuses by name, saying why.
#include "framework/ops/cuda_conv_kernels.h"

#include "framework/tensor/device_backend.h"

namespace torus::cuda_conv_kernels {
namespace {

[[noreturn]] void refuse(std::string_view op, const Tensor& t) {
  const std::string why = device_backend::why_unavailable(t.device());
  throw NotImplementedError(fmt::format("{}: {}", op,
                                        why.empty() ? "this build has no cuDNN (TORUS_WITH_CUDNN is OFF)" : why));
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor&, const Tensor&, const Conv2dGeometry&) { refuse("conv2d", x); }
Tensor conv2d_input_grad(const Tensor& g, const Tensor&, const Conv2dGeometry&) { refuse("conv2d backward", g); }
Tensor conv2d_weight_grad(const Tensor& g, const Tensor&, const Conv2dGeometry&) { refuse("conv2d backward", g); }
Tensor pool2d(Pool mode, const Tensor& x, const Pool2dGeometry&) {
  refuse(mode == Pool::max ? "max_pool2d" : "avg_pool2d", x);
}
Tensor pool2d_backward(Pool mode, const Tensor& x, const Tensor&, const Tensor&, const Pool2dGeometry&) {
  refuse(mode == Pool::max ? "max_pool2d backward" : "avg_pool2d backward", x);
}

}  // namespace torus::cuda_conv_kernels
