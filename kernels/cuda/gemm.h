// Row-major GEMM on the GPU through cuBLAS and cuBLASLt: C = alpha * op(A) * op(B) + beta * C
// (f32, or bf16 inputs accumulated in f32), strided batches of it (attention's (T, T) score
// products), and cuBLASLt's fused bias / GELU+bias epilogues for Linear forward.
//
// Row-major to column-major: cuBLAS reads matrices column-major. A row-major X (r, c) with
// row stride ld is, byte for byte, the column-major Xᵀ (c, r) with leading dimension ld. So
// the row-major C = op(A) op(B) is computed as the column-major Cᵀ = op(B)ᵀ op(A)ᵀ: cuBLAS's
// first operand is our B, its second our A, its (m, n) our (n, m), and each operand keeps
// its own transpose flag (B stored row-major is already Bᵀ column-major, which is what
// op(B)ᵀ needs when op(B) = B). Nothing is copied; to_column_major() below is that mapping,
// unit-tested on the host (tests/cuda_gemm_host_test.cpp).
//
// TF32 is off unless asked for: GemmMath::f32 (CUBLAS_COMPUTE_32F, full f32 FMAs) is the
// default everywhere; GemmMath::tf32 (CUBLAS_COMPUTE_32F_FAST_TF32) rounds f32 inputs to a
// 10-bit mantissa on the tensor cores, ~1e-3 relative error, for callers that opt in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

// The libraries' handle types, so this header needs neither cublas_v2.h nor cublasLt.h.
struct cublasContext;
struct cublasLtContext;

namespace torus::cuda {

// Element types of A and B (and of C, see GemmTypes).
enum class BlasDtype { f32, bf16 };

struct GemmTypes {
  BlasDtype inputs = BlasDtype::f32;  // A and B
  BlasDtype output = BlasDtype::f32;  // C (f32 inputs need f32 output)
};

// How f32 products are computed; accumulation is f32 either way.
enum class GemmMath { f32, tf32 };

// As cpu::GemmShape (kernels/cpu/gemm.h): C is (m, n), op(A) (m, k), op(B) (k, n), all
// row-major with row strides lda, ldb, ldc as stored (A is (k, m) as stored when trans_a).
struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

// A batch of `count` independent products, matrix i at a + i * stride_a (and so on), in
// elements. Attention's scores (B*H, T, T) = Q (B*H, T, hs) · Kᵀ are one such batch.
struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// The column-major call that computes a row-major GemmShape (see the top of this file):
// cuBLAS's operand "A" is our B and its "B" our A.
struct ColumnMajorGemm {
  bool trans_first = false;   // cuBLAS transa, applied to our B
  bool trans_second = false;  // cuBLAS transb, applied to our A
  int64_t m = 0, n = 0, k = 0;
  int64_t ld_first = 0, ld_second = 0, ldc = 0;  // ldb, lda, ldc
  // Stored (rows, cols) of each cuBLAS operand, column-major (the cuBLASLt layouts).
  int64_t first_rows = 0, first_cols = 0, second_rows = 0, second_cols = 0;
};

constexpr ColumnMajorGemm to_column_major(const GemmShape& s) {
  ColumnMajorGemm c;
  c.trans_first = s.trans_b;
  c.trans_second = s.trans_a;
  c.m = s.n;
  c.n = s.m;
  c.k = s.k;
  c.ld_first = s.ldb;
  c.ld_second = s.lda;
  c.ldc = s.ldc;
  c.first_rows = s.trans_b ? s.k : s.n;
  c.first_cols = s.trans_b ? s.n : s.k;
  c.second_rows = s.trans_a ? s.m : s.k;
  c.second_cols = s.trans_a ? s.k : s.m;
  return c;
}

// Why `s` is not a valid row-major GEMM ("" when it is): negative sizes, row strides shorter
// than a row, or sizes past cuBLAS's 32-bit ints.
std::string gemm_shape_error(const GemmShape& s);
// Same for a batch: count >= 1, strides non-negative.
std::string gemm_batch_error(const GemmBatch& b);

// The largest power of two (at most 256, cuBLASLt's default assumption) dividing `address`:
// what cuBLASLt is told about each pointer, so it never picks a kernel needing more.
constexpr uint32_t pointer_alignment(uintptr_t address) {
  uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

// A cuBLAS handle and a cuBLASLt handle bound to one stream, and the workspace both use
// (cuBLAS through cublasSetWorkspace, cuBLASLt per call; they share it safely because work
// on one stream runs in order). Not thread-safe: one per (device, stream), as the device's
// context will hold (docs/CUDA.md). The current device at construction is the handles'.
class BlasHandles {
 public:
  // 32 MiB: NVIDIA's recommendation for Hopper; smaller workspaces exclude some kernels.
  static constexpr size_t kDefaultWorkspaceBytes = size_t{32} << 20;

  explicit BlasHandles(cudaStream_t stream, size_t workspace_bytes = kDefaultWorkspaceBytes);
  ~BlasHandles();
  BlasHandles(const BlasHandles&) = delete;
  BlasHandles& operator=(const BlasHandles&) = delete;

  // Later calls run on `stream`, with the same workspace (re-attached: cublasSetStream drops
  // it). Work still queued on the old stream is not waited for: the caller orders the two
  // streams (an event) before switching, or the workspace could be used by both at once.
  void set_stream(cudaStream_t stream);
  cudaStream_t stream() const { return stream_; }
  cublasContext* blas() const { return blas_; }
  cublasLtContext* lt() const { return lt_; }
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  cudaStream_t stream_ = nullptr;
  cublasContext* blas_ = nullptr;
  cublasLtContext* lt_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

// C = alpha * op(A) * op(B) + beta * C on handles.stream() (cublasGemmEx). With beta = 0, C
// is not read (it may hold NaN).
void gemm(BlasHandles& handles, const GemmShape& shape, float alpha, const float* a, const float* b,
          float beta, float* c, GemmMath math = GemmMath::f32);
// Any GemmTypes: bf16 elements are __nv_bfloat16 (passed as void*); alpha, beta and the
// accumulation are f32. math = tf32 applies to f32 inputs only.
void gemm(BlasHandles& handles, const GemmShape& shape, const GemmTypes& types, float alpha, const void* a,
          const void* b, float beta, void* c, GemmMath math = GemmMath::f32);

// `batch.count` products (cublasGemmStridedBatchedEx), each as gemm().
void gemm_strided_batched(BlasHandles& handles, const GemmShape& shape, const GemmBatch& batch, float alpha,
                          const float* a, const float* b, float beta, float* c, GemmMath math = GemmMath::f32);
void gemm_strided_batched(BlasHandles& handles, const GemmShape& shape, const GemmBatch& batch,
                          const GemmTypes& types, float alpha, const void* a, const void* b, float beta, void* c,
                          GemmMath math = GemmMath::f32);

// cuBLASLt epilogues, fused into the product's last pass:
//   none:      C = op(A) op(B)
//   bias:      C = op(A) op(B) + bias, bias (n) broadcast over C's rows (CUBLASLT_EPILOGUE_BIAS)
//   gelu_bias: C = gelu(op(A) op(B) + bias), cuBLASLt's GELU being the tanh approximation
//              (CUBLASLT_EPILOGUE_GELU_BIAS)
// In the column-major call C's rows are cuBLAS's columns, so the row-broadcast bias is
// cuBLASLt's per-row bias vector, of length cuBLAS m = our n, exactly what it expects.
enum class GemmEpilogue { none, bias, gelu_bias };

// C (m, n) = epilogue(op(A) op(B), bias) through cuBLASLt, with the heuristic's best
// algorithm for the workspace and the pointers' alignment. bias: (n), C's element type;
// nullptr only with epilogue none.
void gemm_epilogue(BlasHandles& handles, const GemmShape& shape, const float* a, const float* b,
                   const float* bias, float* c, GemmEpilogue epilogue, GemmMath math = GemmMath::f32);
void gemm_epilogue(BlasHandles& handles, const GemmShape& shape, const GemmTypes& types, const void* a,
                   const void* b, const void* bias, void* c, GemmEpilogue epilogue, GemmMath math = GemmMath::f32);

// Linear forward, y = x · Wᵀ + bias (gelu(…) with gelu = true), as torus::linear:
// x (R, I), weight (O, I), bias (O) or nullptr, y (R, O), all contiguous row-major.
void linear_forward(BlasHandles& handles, const float* x, const float* weight, const float* bias, float* y,
                    int64_t rows, int64_t in_features, int64_t out_features, bool gelu = false,
                    GemmMath math = GemmMath::f32);

}  // namespace torus::cuda
