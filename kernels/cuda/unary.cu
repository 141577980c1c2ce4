// The unary kernels (see unary.h): one grid-stride loop per functor.
#include "kernels/common/functors.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/unary.h"

namespace torus::cuda {
namespace {

template <class F>
__global__ void unary_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const F f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = f(x[i]);
}

template <class G>
__global__ void unary_backward_kernel(const float* __restrict__ saved, const float* __restrict__ grad_out,
                                      float* __restrict__ grad_in, int64_t n) {
  const G g;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    grad_in[i] = g(saved[i], grad_out[i]);
}

template <class F>
void launch_forward(const float* x, float* y, int64_t n, cudaStream_t stream) {
  const LaunchConfig1D config = elementwise_config(n);
  unary_forward_kernel<F><<<static_cast<unsigned>(config.grid), config.block, 0, stream>>>(x, y, n);
  TORUS_CUDA_CHECK_LAUNCH("unary_forward_kernel");
}

template <class G>
void launch_backward(const float* saved, const float* grad_out, float* grad_in, int64_t n, cudaStream_t stream) {
  const LaunchConfig1D config = elementwise_config(n);
  unary_backward_kernel<G><<<static_cast<unsigned>(config.grid), config.block, 0, stream>>>(saved, grad_out,
                                                                                             grad_in, n);
  TORUS_CUDA_CHECK_LAUNCH("unary_backward_kernel");
}

}  // namespace

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::rsqrt: return "rsqrt";
    case UnaryOp::abs: return "abs";
    case UnaryOp::tanh: return "tanh";
    case UnaryOp::sigmoid: return "sigmoid";
    case UnaryOp::relu: return "relu";
    case UnaryOp::sign: return "sign";
    case UnaryOp::square: return "square";
  }
  return "?";
}

void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0, "unary ", unary_op_name(op), ": negative size ", n);
  if (n == 0) return;
  switch (op) {
    case UnaryOp::neg: return launch_forward<fn::Neg>(x, y, n, stream);
    case UnaryOp::exp: return launch_forward<fn::Exp>(x, y, n, stream);
    case UnaryOp::log: return launch_forward<fn::Log>(x, y, n, stream);
    case UnaryOp::sqrt: return launch_forward<fn::Sqrt>(x, y, n, stream);
    case UnaryOp::rsqrt: return launch_forward<fn::Rsqrt>(x, y, n, stream);
    case UnaryOp::abs: return launch_forward<fn::Abs>(x, y, n, stream);
    case UnaryOp::tanh: return launch_forward<fn::Tanh>(x, y, n, stream);
    case UnaryOp::sigmoid: return launch_forward<fn::Sigmoid>(x, y, n, stream);
    case UnaryOp::relu: return launch_forward<fn::Relu>(x, y, n, stream);
    case UnaryOp::sign: return launch_forward<fn::Sign>(x, y, n, stream);
    case UnaryOp::square: return launch_forward<fn::Square>(x, y, n, stream);
  }
  TORUS_CUDA_EXPECT(false, "unary: unknown op ", static_cast<int>(op));
}

void unary_backward(UnaryBackward op, const float* saved, const float* grad_out, float* grad_in, int64_t n,
                    cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0, "unary backward: negative size ", n);
  if (n == 0) return;
  switch (op) {
    case UnaryBackward::relu: return launch_backward<fn::ReluBackward>(saved, grad_out, grad_in, n, stream);
    case UnaryBackward::tanh: return launch_backward<fn::TanhBackward>(saved, grad_out, grad_in, n, stream);
    case UnaryBackward::sigmoid: return launch_backward<fn::SigmoidBackward>(saved, grad_out, grad_in, n, stream);
  }
  TORUS_CUDA_EXPECT(false, "unary backward: unknown op ", static_cast<int>(op));
}

}  // namespace torus::cuda
