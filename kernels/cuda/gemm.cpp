// Row-major GEMM through cuBLAS (plain and strided-batched) and cuBLASLt (bias / GELU
// epilogues): the row-major to column-major mapping of gemm.h, the handles and their
// workspace, and every library call checked.
#include "kernels/cuda/gemm.h"

#include <limits>
#include <memory>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"

namespace torus::cuda {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int>::max();

std::string describe(const GemmShape& s) {
  return fmt::format("(trans_a {}, trans_b {}, m {}, n {}, k {}, lda {}, ldb {}, ldc {})", s.trans_a, s.trans_b, s.m,
                     s.n, s.k, s.lda, s.ldb, s.ldc);
}

cudaDataType_t data_type(BlasDtype t) { return t == BlasDtype::f32 ? CUDA_R_32F : CUDA_R_16BF; }
cublasOperation_t op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// f32 accumulation always; tf32 only where asked for, and only for f32 inputs (bf16 inputs
// already use the tensor cores exactly, their products fitting f32).
cublasComputeType_t compute_type(const GemmTypes& types, GemmMath math) {
  TORUS_CHECK(!(types.inputs == BlasDtype::f32 && types.output == BlasDtype::bf16),
              "gemm: f32 inputs with a bf16 output are not supported (use an f32 output)");
  TORUS_CHECK(math == GemmMath::f32 || types.inputs == BlasDtype::f32,
              "gemm: GemmMath::tf32 applies to f32 inputs only, not bf16");
  return math == GemmMath::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

void check_shape(const GemmShape& s, const char* what) {
  const std::string error = gemm_shape_error(s);
  TORUS_CHECK(error.empty(), "{}: {} for {}", what, error, describe(s));
}

// ---- cuBLASLt descriptors, destroyed on every exit path ----

struct MatmulDescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { (void)cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* d) const { (void)cublasLtMatrixLayoutDestroy(d); }
};
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* d) const { (void)cublasLtMatmulPreferenceDestroy(d); }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, MatmulDescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceDeleter>;

// Column-major (rows, cols) with leading dimension ld.
Layout make_layout(BlasDtype type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  TORUS_CUBLAS(cublasLtMatrixLayoutCreate(&layout, data_type(type), static_cast<uint64_t>(rows),
                                          static_cast<uint64_t>(cols), ld));
  return Layout(layout);
}

template <class T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const T& value) {
  TORUS_CUBLAS(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)));
}

template <class T>
void set_preference(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute,
                    const T& value) {
  TORUS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof(value)));
}

uint32_t alignment_of(const void* p) { return pointer_alignment(reinterpret_cast<uintptr_t>(p)); }

}  // namespace

std::string gemm_shape_error(const GemmShape& s) {
  if (s.m < 0 || s.n < 0 || s.k < 0) return fmt::format("sizes must be non-negative");
  const int64_t a_row = s.trans_a ? s.m : s.k, b_row = s.trans_b ? s.k : s.n;
  if (s.lda < std::max<int64_t>(1, a_row))
    return fmt::format("lda {} is shorter than a row of A ({})", s.lda, a_row);
  if (s.ldb < std::max<int64_t>(1, b_row))
    return fmt::format("ldb {} is shorter than a row of B ({})", s.ldb, b_row);
  if (s.ldc < std::max<int64_t>(1, s.n)) return fmt::format("ldc {} is shorter than a row of C ({})", s.ldc, s.n);
  for (const int64_t v : {s.m, s.n, s.k, s.lda, s.ldb, s.ldc})
    if (v > kMaxInt) return fmt::format("size or stride {} exceeds cuBLAS's 32-bit int", v);
  return "";
}

std::string gemm_batch_error(const GemmBatch& b) {
  if (b.count < 1) return fmt::format("batch count {} must be positive", b.count);
  if (b.count > kMaxInt) return fmt::format("batch count {} exceeds cuBLAS's 32-bit int", b.count);
  if (b.stride_a < 0 || b.stride_b < 0 || b.stride_c < 0)
    return fmt::format("batch strides ({}, {}, {}) must be non-negative", b.stride_a, b.stride_b, b.stride_c);
  return "";
}

// ---- BlasHandles ----

BlasHandles::BlasHandles(cudaStream_t stream, size_t workspace_bytes) : stream_(stream) {
  // The members are released by the destructor only once construction finished, so a
  // failure part-way releases what was made so far here.
  try {
    cublasHandle_t blas = nullptr;
    TORUS_CUBLAS(cublasCreate(&blas));
    blas_ = blas;
    cublasLtHandle_t lt = nullptr;
    TORUS_CUBLAS(cublasLtCreate(&lt));
    lt_ = lt;
    if (workspace_bytes > 0) TORUS_CUDA(cudaMalloc(&workspace_, workspace_bytes));
    workspace_bytes_ = workspace_bytes;
    // No TF32 behind our back: the compute type of each call decides (GemmMath).
    TORUS_CUBLAS(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    TORUS_CUBLAS(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST));
    set_stream(stream_);
  } catch (...) {
    if (workspace_ != nullptr) (void)cudaFree(workspace_);
    if (lt_ != nullptr) (void)cublasLtDestroy(lt_);
    if (blas_ != nullptr) (void)cublasDestroy(blas_);
    throw;
  }
}

BlasHandles::~BlasHandles() {
  // Destructors must not throw. cudaFree waits for the device, so no queued GEMM still uses
  // the workspace when it goes.
  (void)cublasDestroy(blas_);
  (void)cublasLtDestroy(lt_);
  if (workspace_ != nullptr) (void)cudaFree(workspace_);
}

void BlasHandles::set_stream(cudaStream_t stream) {
  TORUS_CUBLAS(cublasSetStream(blas_, stream));
  // cublasSetStream resets cuBLAS to its default workspace pool: hand ours back each time.
  TORUS_CUBLAS(cublasSetWorkspace(blas_, workspace_, workspace_bytes_));
  stream_ = stream;
}

// ---- cuBLAS ----

void gemm(BlasHandles& handles, const GemmShape& shape, float alpha, const float* a, const float* b, float beta,
          float* c, GemmMath math) {
  gemm(handles, shape, GemmTypes{}, alpha, a, b, beta, c, math);
}

void gemm(BlasHandles& handles, const GemmShape& shape, const GemmTypes& types, float alpha, const void* a,
          const void* b, float beta, void* c, GemmMath math) {
  check_shape(shape, "gemm");
  const cublasComputeType_t compute = compute_type(types, math);
  if (shape.m == 0 || shape.n == 0) return;
  const ColumnMajorGemm g = to_column_major(shape);
  // k = 0 leaves C = beta * C, which cuBLAS does itself.
  TORUS_CUBLAS(cublasGemmEx(handles.blas(), op(g.trans_first), op(g.trans_second), static_cast<int>(g.m),
                            static_cast<int>(g.n), static_cast<int>(g.k), &alpha, b, data_type(types.inputs),
                            static_cast<int>(g.ld_first), a, data_type(types.inputs), static_cast<int>(g.ld_second),
                            &beta, c, data_type(types.output), static_cast<int>(g.ldc), compute,
                            CUBLAS_GEMM_DEFAULT));
}

void gemm_strided_batched(BlasHandles& handles, const GemmShape& shape, const GemmBatch& batch, float alpha,
                          const float* a, const float* b, float beta, float* c, GemmMath math) {
  gemm_strided_batched(handles, shape, batch, GemmTypes{}, alpha, a, b, beta, c, math);
}

void gemm_strided_batched(BlasHandles& handles, const GemmShape& shape, const GemmBatch& batch,
                          const GemmTypes& types, float alpha, const void* a, const void* b, float beta, void* c,
                          GemmMath math) {
  check_shape(shape, "gemm_strided_batched");
  const std::string batch_error = gemm_batch_error(batch);
  TORUS_CHECK(batch_error.empty(), "gemm_strided_batched: {}", batch_error);
  const cublasComputeType_t compute = compute_type(types, math);
  if (shape.m == 0 || shape.n == 0) return;
  const ColumnMajorGemm g = to_column_major(shape);
  TORUS_CUBLAS(cublasGemmStridedBatchedEx(
      handles.blas(), op(g.trans_first), op(g.trans_second), static_cast<int>(g.m), static_cast<int>(g.n),
      static_cast<int>(g.k), &alpha, b, data_type(types.inputs), static_cast<int>(g.ld_first), batch.stride_b, a,
      data_type(types.inputs), static_cast<int>(g.ld_second), batch.stride_a, &beta, c, data_type(types.output),
      static_cast<int>(g.ldc), batch.stride_c, static_cast<int>(batch.count), compute, CUBLAS_GEMM_DEFAULT));
}

// ---- cuBLASLt ----

void gemm_epilogue(BlasHandles& handles, const GemmShape& shape, const float* a, const float* b, const float* bias,
                   float* c, GemmEpilogue epilogue, GemmMath math) {
  gemm_epilogue(handles, shape, GemmTypes{}, a, b, bias, c, epilogue, math);
}

void gemm_epilogue(BlasHandles& handles, const GemmShape& shape, const GemmTypes& types, const void* a,
                   const void* b, const void* bias, void* c, GemmEpilogue epilogue, GemmMath math) {
  check_shape(shape, "gemm_epilogue");
  TORUS_CHECK(epilogue == GemmEpilogue::none || bias != nullptr,
              "gemm_epilogue: the bias epilogues need a bias pointer");
  const cublasComputeType_t compute = compute_type(types, math);
  if (shape.m == 0 || shape.n == 0) return;
  // k = 0: cuBLASLt wants k >= 1; the product is then zero and C is the epilogue of the bias.
  TORUS_CHECK(shape.k > 0, "gemm_epilogue: k must be positive, got {}", shape.k);
  const ColumnMajorGemm g = to_column_major(shape);

  cublasLtMatmulDesc_t raw_desc = nullptr;
  TORUS_CUBLAS(cublasLtMatmulDescCreate(&raw_desc, compute, CUDA_R_32F));
  const MatmulDesc desc(raw_desc);
  set_desc(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, op(g.trans_first));
  set_desc(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, op(g.trans_second));
  const cublasLtEpilogue_t lt_epilogue = epilogue == GemmEpilogue::none   ? CUBLASLT_EPILOGUE_DEFAULT
                                         : epilogue == GemmEpilogue::bias ? CUBLASLT_EPILOGUE_BIAS
                                                                          : CUBLASLT_EPILOGUE_GELU_BIAS;
  set_desc(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, lt_epilogue);
  // The bias has D's element type (cuBLASLt's default for CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE).
  if (epilogue != GemmEpilogue::none) set_desc(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);

  const Layout first = make_layout(types.inputs, g.first_rows, g.first_cols, g.ld_first);
  const Layout second = make_layout(types.inputs, g.second_rows, g.second_cols, g.ld_second);
  const Layout out = make_layout(types.output, g.m, g.n, g.ldc);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  TORUS_CUBLAS(cublasLtMatmulPreferenceCreate(&raw_pref));
  const Preference pref(raw_pref);
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, handles.workspace_bytes());
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(b));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(a));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(c));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(c));

  // One heuristic query per call (microseconds); a cache keyed by the shape is the next
  // step if it shows in profiles.
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  TORUS_CUBLAS(cublasLtMatmulAlgoGetHeuristic(handles.lt(), raw_desc, first.get(), second.get(), out.get(),
                                              out.get(), raw_pref, 1, &result, &found));
  if (found == 0)
    throw NotImplementedError(fmt::format("gemm_epilogue: cuBLASLt has no algorithm for {} ({} workspace bytes)",
                                          describe(shape), handles.workspace_bytes()));
  const float alpha = 1.0f, beta = 0.0f;
  TORUS_CUBLAS(cublasLtMatmul(handles.lt(), raw_desc, &alpha, b, first.get(), a, second.get(), &beta, c, out.get(),
                              c, out.get(), &result.algo, handles.workspace(), handles.workspace_bytes(),
                              handles.stream()));
}

void linear_forward(BlasHandles& handles, const float* x, const float* weight, const float* bias, float* y,
                    int64_t rows, int64_t in_features, int64_t out_features, bool gelu, GemmMath math) {
  TORUS_CHECK(bias != nullptr || !gelu, "linear_forward: the fused GELU needs a bias (cuBLASLt GELU_BIAS)");
  // y (R, O) = x (R, I) · W (O, I)ᵀ: W read transposed in place.
  const GemmShape shape{.trans_a = false, .trans_b = true, .m = rows, .n = out_features, .k = in_features,
                        .lda = in_features, .ldb = in_features, .ldc = out_features};
  const GemmEpilogue epilogue = bias == nullptr ? GemmEpilogue::none
                                : gelu          ? GemmEpilogue::gelu_bias
                                                : GemmEpilogue::bias;
  gemm_epilogue(handles, shape, x, weight, bias, y, epilogue, math);
}

}  // namespace torus::cuda
