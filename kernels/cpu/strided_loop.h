// Walks N operands (output first) over one broadcast shape with per-operand strides,
// handing contiguous-or-strided inner runs to a callback. Elementwise, casting and
// copy kernels are all built on it, so views and broadcasting never need a copy.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

inline constexpr int kMaxDims = 12;

template <int N>
struct LoopShape {
  int ndim = 0;
  std::array<int64_t, kMaxDims> sizes{};
  // Byte strides, [operand][dim]; 0 on a broadcast dimension.
  std::array<std::array<int64_t, kMaxDims>, N> strides{};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= sizes[d];
    return n;
  }

  // Merges neighbouring dims that every operand walks as one, so a contiguous tensor
  // becomes a single long inner run however many dims it has.
  void coalesce() {
    if (ndim <= 1) return;
    int out = 0;
    for (int d = 1; d < ndim; ++d) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k)
        mergeable &= strides[k][out] == strides[k][d] * sizes[d];
      if (sizes[d] == 1) continue;  // a size-1 dim walks nowhere
      if (sizes[out] == 1) mergeable = true;
      if (mergeable) {
        for (int k = 0; k < N; ++k) strides[k][out] = strides[k][d];
        sizes[out] *= sizes[d];
      } else {
        ++out;
        sizes[out] = sizes[d];
        for (int k = 0; k < N; ++k) strides[k][out] = strides[k][d];
      }
    }
    ndim = out + 1;
  }
};

// inner(ptrs, strides_of_last_dim, count) processes `count` elements along the last dim.
template <int N, class Inner>
void strided_loop(LoopShape<N> shape, std::array<char*, N> base, const Inner& inner) {
  shape.coalesce();
  if (shape.ndim == 0) {  // a scalar
    std::array<int64_t, N> zero{};
    inner(base, zero, int64_t{1});
    return;
  }
  const int last = shape.ndim - 1;
  const int64_t row = shape.sizes[last];
  std::array<int64_t, N> inner_strides;
  for (int k = 0; k < N; ++k) inner_strides[k] = shape.strides[k][last];

  parallel_for(shape.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
    // Decompose `begin` into a multi-index to find each operand's starting pointer.
    std::array<int64_t, kMaxDims> index{};
    int64_t rest = begin;
    for (int d = last; d >= 0; --d) {
      index[d] = rest % shape.sizes[d];
      rest /= shape.sizes[d];
    }
    std::array<char*, N> ptrs;
    for (int k = 0; k < N; ++k) {
      ptrs[k] = base[k];
      for (int d = 0; d <= last; ++d) ptrs[k] += index[d] * shape.strides[k][d];
    }
    int64_t position = begin;
    while (position < end) {
      int64_t count = row - index[last];
      if (count > end - position) count = end - position;
      inner(ptrs, inner_strides, count);
      position += count;
      if (position >= end) break;
      // Advance to the start of the next row, carrying into outer dims.
      for (int k = 0; k < N; ++k) ptrs[k] += count * inner_strides[k];
      index[last] += count;
      for (int d = last; d > 0 && index[d] == shape.sizes[d]; --d) {
        index[d] = 0;
        ++index[d - 1];
        for (int k = 0; k < N; ++k)
          ptrs[k] += shape.strides[k][d - 1] - shape.sizes[d] * shape.strides[k][d];
      }
    }
  });
}

// out = f(in) where the two innermost dims are transposed between the operands (out
// dense along the last dim, in dense along the one before: `x.t().contiguous()`, a
// head split). Walking 32x32 tiles reads and writes whole cache lines; the plain
// inner loop would touch a new line of `in` for every element.
template <class Out, class In, class F>
void transposed_unary_loop(const LoopShape<2>& shape, Out* out, const In* in, const F& f) {
  constexpr int64_t kTile = 32;
  const int last = shape.ndim - 1;
  const int64_t rows = shape.sizes[last - 1], cols = shape.sizes[last];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  int64_t outer = 1;
  for (int d = 0; d < last - 1; ++d) outer *= shape.sizes[d];
  const int64_t out_row = shape.strides[0][last - 1] / int64_t{sizeof(Out)};
  const int64_t in_col = shape.strides[1][last] / int64_t{sizeof(In)};
  parallel_for(outer * row_tiles, std::max<int64_t>(1, kParallelGrain / (kTile * cols)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t job = begin; job < end; ++job) {
                   // Pointers of this job's outer index, from the per-dim strides.
                   int64_t rest = job / row_tiles, out_offset = 0, in_offset = 0;
                   for (int d = last - 2; d >= 0; --d) {
                     const int64_t index = rest % shape.sizes[d];
                     rest /= shape.sizes[d];
                     out_offset += index * shape.strides[0][d];
                     in_offset += index * shape.strides[1][d];
                   }
                   Out* o = reinterpret_cast<Out*>(reinterpret_cast<char*>(out) + out_offset);
                   const In* a = reinterpret_cast<const In*>(reinterpret_cast<const char*>(in) + in_offset);
                   const int64_t r0 = (job % row_tiles) * kTile, r1 = std::min(rows, r0 + kTile);
                   for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
                     const int64_t c1 = std::min(cols, c0 + kTile);
                     for (int64_t r = r0; r < r1; ++r)
                       for (int64_t c = c0; c < c1; ++c) o[r * out_row + c] = f(a[r + c * in_col]);
                   }
                 }
               });
}

// out = f(a) over a LoopShape<2>; the contiguous case is a plain loop the compiler
// vectorizes.
template <class Out, class In, class F>
void unary_loop(const LoopShape<2>& shape_in, Out* out, const In* in, const F& f) {
  LoopShape<2> shape = shape_in;
  shape.coalesce();
  const int last = shape.ndim - 1;
  if (shape.ndim >= 2 && shape.strides[0][last] == int64_t{sizeof(Out)} &&
      shape.strides[1][last - 1] == int64_t{sizeof(In)} && shape.strides[1][last] != int64_t{sizeof(In)} &&
      shape.sizes[last] >= 8 && shape.sizes[last - 1] >= 8) {
    transposed_unary_loop(shape, out, in, f);
    return;
  }
  strided_loop<2>(shape, {reinterpret_cast<char*>(out), reinterpret_cast<char*>(const_cast<In*>(in))},
                  [&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
                    Out* o = reinterpret_cast<Out*>(p[0]);
                    const In* a = reinterpret_cast<const In*>(p[1]);
                    if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
#pragma omp simd
                      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
                    } else {
                      const int64_t so = s[0] / int64_t{sizeof(Out)}, sa = s[1] / int64_t{sizeof(In)};
                      for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa]);
                    }
                  });
}

template <class Out, class A, class B, class F>
void binary_loop(const LoopShape<3>& shape, Out* out, const A* a, const B* b, const F& f) {
  strided_loop<3>(
      shape,
      {reinterpret_cast<char*>(out), reinterpret_cast<char*>(const_cast<A*>(a)),
       reinterpret_cast<char*>(const_cast<B*>(b))},
      [&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& s, int64_t n) {
        Out* o = reinterpret_cast<Out*>(p[0]);
        const A* x = reinterpret_cast<const A*>(p[1]);
        const B* y = reinterpret_cast<const B*>(p[2]);
        const bool out_dense = s[0] == sizeof(Out);
        if (out_dense && s[1] == sizeof(A) && s[2] == sizeof(B)) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
        } else if (out_dense && s[1] == sizeof(A) && s[2] == 0) {
          const B scalar = *y;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], scalar);
        } else if (out_dense && s[1] == 0 && s[2] == sizeof(B)) {
          const A scalar = *x;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(scalar, y[i]);
        } else {
          const int64_t so = s[0] / int64_t{sizeof(Out)}, sx = s[1] / int64_t{sizeof(A)},
                        sy = s[2] / int64_t{sizeof(B)};
          for (int64_t i = 0; i < n; ++i) o[i * so] = f(x[i * sx], y[i * sy]);
        }
      });
}

template <class Out, class C, class A, class B, class F>
void ternary_loop(const LoopShape<4>& shape, Out* out, const C* c, const A* a, const B* b,
                  const F& f) {
  strided_loop<4>(
      shape,
      {reinterpret_cast<char*>(out), reinterpret_cast<char*>(const_cast<C*>(c)),
       reinterpret_cast<char*>(const_cast<A*>(a)), reinterpret_cast<char*>(const_cast<B*>(b))},
      [&](const std::array<char*, 4>& p, const std::array<int64_t, 4>& s, int64_t n) {
        Out* o = reinterpret_cast<Out*>(p[0]);
        const C* z = reinterpret_cast<const C*>(p[1]);
        const A* x = reinterpret_cast<const A*>(p[2]);
        const B* y = reinterpret_cast<const B*>(p[3]);
        const int64_t so = s[0] / int64_t{sizeof(Out)}, sz = s[1] / int64_t{sizeof(C)},
                      sx = s[2] / int64_t{sizeof(A)}, sy = s[3] / int64_t{sizeof(B)};
        for (int64_t i = 0; i < n; ++i) o[i * so] = f(z[i * sz], x[i * sx], y[i * sy]);
      });
}

}  // namespace torus::cpu
