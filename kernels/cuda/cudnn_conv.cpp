// cuDNN 2-D convolution (cudnn_conv.h): descriptors from a Conv2dShape, the algorithm choice
// per direction (ranked, filtered, workspace confirmed, cached), and the calls, all checked.
// cuDNN 9 still ships these "legacy" convolution calls (deprecated in favour of its graph
// API, warned about only under CUDNN_WARN_DEPRECATED); they are what frameworks use today.
#include "kernels/cuda/cudnn_conv.h"

#include <algorithm>
#include <array>
#include <functional>
#include <vector>

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::cuda {
namespace {

// The descriptors of one convolution.
struct ConvDescriptors {
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvolutionDescriptor conv;

  explicit ConvDescriptors(const Conv2dShape& s) {
    set_nchw(x, s.batch, s.channels, s.height, s.width);
    set_nchw(y, s.batch, s.out_channels, s.out_h(), s.out_w());
    TORUS_CUDNN(cudnnSetFilter4dDescriptor(w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                           static_cast<int>(s.out_channels), static_cast<int>(s.channels / s.groups),
                                           static_cast<int>(s.kernel_h), static_cast<int>(s.kernel_w)));
    // Cross-correlation, as every framework's "convolution" (no kernel flip).
    TORUS_CUDNN(cudnnSetConvolution2dDescriptor(conv.get(), static_cast<int>(s.padding[0]),
                                                static_cast<int>(s.padding[1]), static_cast<int>(s.stride[0]),
                                                static_cast<int>(s.stride[1]), static_cast<int>(s.dilation[0]),
                                                static_cast<int>(s.dilation[1]), CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    TORUS_CUDNN(cudnnSetConvolutionGroupCount(conv.get(), static_cast<int>(s.groups)));
    // Our output arithmetic and cuDNN's must agree, or every buffer size is wrong.
    int n = 0, c = 0, h = 0, wd = 0;
    TORUS_CUDNN(cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &n, &c, &h, &wd));
    TORUS_ASSERT(n == s.batch && c == s.out_channels && h == s.out_h() && wd == s.out_w(),
                 "conv2d: cuDNN's output ({}, {}, {}, {}) differs from ours ({}, {}, {}, {})", n, c, h, wd, s.batch,
                 s.out_channels, s.out_h(), s.out_w());
  }
};

void check_shape(const Conv2dShape& s) {
  const std::string error = conv2d_shape_error(s);
  TORUS_CHECK(error.empty(), "{}", error);
}

std::string cache_key(const char* direction, const Conv2dShape& s, const ConvAlgoOptions& o) {
  return fmt::format("{} x({},{},{},{}) w({},{},{}) s({},{}) p({},{}) d({},{}) g{} ex{} det{} tf32{} ws{}", direction,
                     s.batch, s.channels, s.height, s.width, s.out_channels, s.kernel_h, s.kernel_w, s.stride[0],
                     s.stride[1], s.padding[0], s.padding[1], s.dilation[0], s.dilation[1], s.groups, o.exhaustive,
                     o.deterministic, o.allow_tf32, o.max_workspace_bytes);
}

template <class Perf>
AlgoCandidate to_candidate(const Perf& p) {
  return AlgoCandidate{.algo = static_cast<int>(p.algo),
                       .available = p.status == CUDNN_STATUS_SUCCESS,
                       .workspace_bytes = p.memory,
                       .deterministic = p.determinism == CUDNN_DETERMINISTIC,
                       .tensor_op = p.mathType == CUDNN_TENSOR_OP_MATH,
                       .down_conversion = p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION};
}

// One direction's cuDNN calls, so choose() is written once.
template <class Perf>
struct DirectionCalls {
  const char* name;
  // Ranked heuristics (_v7) into perf[0, returned).
  std::function<cudnnStatus_t(int requested, int* returned, Perf* perf)> heuristic;
  // Timed search (Find*Ex) with this workspace.
  std::function<cudnnStatus_t(int requested, int* returned, Perf* perf, void* ws, size_t ws_bytes)> find;
  // The workspace of one algorithm with the descriptor's current math type.
  std::function<cudnnStatus_t(int algo, size_t* bytes)> workspace;
};

template <class Perf>
ConvAlgoChoice choose(CudnnHandle& handle, const Conv2dShape& shape, const ConvAlgoOptions& options,
                      cudnnConvolutionDescriptor_t conv, const DirectionCalls<Perf>& calls) {
  const std::string key = cache_key(calls.name, shape, options);
  auto& cache = handle.algorithm_cache();
  if (const auto hit = cache.find(key); hit != cache.end()) return hit->second;

  // cuDNN's default math lets f32 use TF32 tensor cores; FMA math keeps f32 exact.
  const cudnnMathType_t query_math = options.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  TORUS_CUDNN(cudnnSetConvolutionMathType(conv, query_math));
  constexpr int kRequested = 32;  // more than any direction's algorithm count
  std::array<Perf, kRequested> perf{};
  int returned = 0;
  TORUS_CUDNN(calls.heuristic(kRequested, &returned, perf.data()));
  std::vector<AlgoCandidate> ranked;
  for (int i = 0; i < returned; ++i) ranked.push_back(to_candidate(perf[static_cast<size_t>(i)]));

  if (options.exhaustive) {
    // Time the candidates with as much workspace as the largest acceptable one needs.
    size_t bytes = 0;
    for (const int i : acceptable_algorithms(ranked, options))
      bytes = std::max(bytes, ranked[static_cast<size_t>(i)].workspace_bytes);
    void* ws = handle.workspace(bytes);
    returned = 0;
    TORUS_CUDNN(calls.find(kRequested, &returned, perf.data(), ws, bytes));
    ranked.clear();
    for (int i = 0; i < returned; ++i) ranked.push_back(to_candidate(perf[static_cast<size_t>(i)]));
  }

  for (const int i : acceptable_algorithms(ranked, options)) {
    const Perf& p = perf[static_cast<size_t>(i)];
    // Without TF32, FMA math even for an algorithm ranked under the default math.
    const cudnnMathType_t math = options.allow_tf32 ? p.mathType : CUDNN_FMA_MATH;
    TORUS_CUDNN(cudnnSetConvolutionMathType(conv, math));
    size_t bytes = 0;
    // Not every algorithm supports every shape with this math: try the next one.
    if (calls.workspace(static_cast<int>(p.algo), &bytes) != CUDNN_STATUS_SUCCESS) continue;
    if (bytes > options.max_workspace_bytes) continue;
    const ConvAlgoChoice choice{.algo = static_cast<int>(p.algo), .math = math, .workspace_bytes = bytes};
    cache.emplace(key, choice);
    return choice;
  }
  throw NotImplementedError(fmt::format(
      "conv2d {}: no cuDNN algorithm fits ({} ranked; deterministic {}, allow_tf32 {}, at most {} workspace bytes) "
      "for {}",
      calls.name, ranked.size(), options.deterministic, options.allow_tf32, options.max_workspace_bytes,
      cache_key(calls.name, shape, options)));
}

}  // namespace

void conv2d_forward(CudnnHandle& handle, const Conv2dShape& shape, const float* x, const float* weight,
                    const float* bias, float* y, const ConvAlgoOptions& options) {
  check_shape(shape);
  if (shape.batch == 0) return;
  const ConvDescriptors d(shape);
  cudnnHandle_t h = handle.get();
  const DirectionCalls<cudnnConvolutionFwdAlgoPerf_t> calls{
      "forward",
      [&](int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(), requested,
                                                      returned, perf);
      },
      [&](int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf, void* ws, size_t bytes) {
        return cudnnFindConvolutionForwardAlgorithmEx(h, d.x.get(), x, d.w.get(), weight, d.conv.get(), d.y.get(), y,
                                                      requested, returned, perf, ws, bytes);
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      }};
  const ConvAlgoChoice choice = choose(handle, shape, options, d.conv.get(), calls);
  TORUS_CUDNN(cudnnSetConvolutionMathType(d.conv.get(), choice.math));
  void* ws = handle.workspace(choice.workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnConvolutionForward(h, &one, d.x.get(), x, d.w.get(), weight, d.conv.get(),
                                      static_cast<cudnnConvolutionFwdAlgo_t>(choice.algo), ws,
                                      choice.workspace_bytes, &zero, d.y.get(), y));
  if (bias == nullptr) return;
  // y += bias broadcast over N, OH, OW.
  TensorDescriptor bias_desc;
  set_nchw(bias_desc, 1, shape.out_channels, 1, 1);
  TORUS_CUDNN(cudnnAddTensor(h, &one, bias_desc.get(), bias, &one, d.y.get(), y));
}

void conv2d_backward_data(CudnnHandle& handle, const Conv2dShape& shape, const float* weight, const float* grad_y,
                          float* grad_x, const ConvAlgoOptions& options) {
  check_shape(shape);
  if (shape.batch == 0) return;
  const ConvDescriptors d(shape);
  cudnnHandle_t h = handle.get();
  const DirectionCalls<cudnnConvolutionBwdDataAlgoPerf_t> calls{
      "backward_data",
      [&](int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
        return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
                                                           requested, returned, perf);
      },
      [&](int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf, void* ws, size_t bytes) {
        return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.get(), weight, d.y.get(), grad_y, d.conv.get(),
                                                           d.x.get(), grad_x, requested, returned, perf, ws, bytes);
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
                                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      }};
  const ConvAlgoChoice choice = choose(handle, shape, options, d.conv.get(), calls);
  TORUS_CUDNN(cudnnSetConvolutionMathType(d.conv.get(), choice.math));
  void* ws = handle.workspace(choice.workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnConvolutionBackwardData(h, &one, d.w.get(), weight, d.y.get(), grad_y, d.conv.get(),
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo), ws,
                                           choice.workspace_bytes, &zero, d.x.get(), grad_x));
}

void conv2d_backward_filter(CudnnHandle& handle, const Conv2dShape& shape, const float* x, const float* grad_y,
                            float* grad_weight, const ConvAlgoOptions& options) {
  check_shape(shape);
  if (shape.batch == 0) {  // an empty sum
    TORUS_CUDA(cudaMemsetAsync(grad_weight, 0, static_cast<size_t>(shape.weight_numel()) * sizeof(float),
                               handle.stream()));
    return;
  }
  const ConvDescriptors d(shape);
  cudnnHandle_t h = handle.get();
  const DirectionCalls<cudnnConvolutionBwdFilterAlgoPerf_t> calls{
      "backward_filter",
      [&](int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(),
                                                             requested, returned, perf);
      },
      [&](int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t bytes) {
        return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.get(), x, d.y.get(), grad_y, d.conv.get(),
                                                             d.w.get(), grad_weight, requested, returned, perf, ws,
                                                             bytes);
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
            bytes);
      }};
  const ConvAlgoChoice choice = choose(handle, shape, options, d.conv.get(), calls);
  TORUS_CUDNN(cudnnSetConvolutionMathType(d.conv.get(), choice.math));
  void* ws = handle.workspace(choice.workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnConvolutionBackwardFilter(h, &one, d.x.get(), x, d.y.get(), grad_y, d.conv.get(),
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice.algo), ws,
                                             choice.workspace_bytes, &zero, d.w.get(), grad_weight));
}

void conv2d_backward_bias(CudnnHandle& handle, const Conv2dShape& shape, const float* grad_y, float* grad_bias) {
  check_shape(shape);
  if (shape.batch == 0) {
    TORUS_CUDA(cudaMemsetAsync(grad_bias, 0, static_cast<size_t>(shape.out_channels) * sizeof(float),
                               handle.stream()));
    return;
  }
  TensorDescriptor dy, db;
  set_nchw(dy, shape.batch, shape.out_channels, shape.out_h(), shape.out_w());
  set_nchw(db, 1, shape.out_channels, 1, 1);
  const float one = 1.0f, zero = 0.0f;
  TORUS_CUDNN(cudnnConvolutionBackwardBias(handle.get(), &one, dy.get(), grad_y, &zero, db.get(), grad_bias));
}

}  // namespace torus::cuda
