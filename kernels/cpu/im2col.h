// im2col / col2im: unfold every receptive field of one image into a column (and fold back), so
// that a 2-D convolution with stride, padding and dilation becomes one GEMM per image.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

// One image (C, H, W) convolved with a (kh, kw) kernel into an (oh, ow) output plane.
struct Conv2dGeometry {
  int64_t channels = 0, height = 0, width = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t out_h = 0, out_w = 0;

  // The column matrix is (col_rows, col_cols): one row per (channel, ki, kj), one column
  // per output position.
  int64_t col_rows() const { return channels * kernel_h * kernel_w; }
  int64_t col_cols() const { return out_h * out_w; }
};

// Element strides of an image (C, H, W) as stored; the image may be any strided view.
struct ImageStrides {
  int64_t c = 0, h = 0, w = 0;
};

// The output positions o in [0, out) whose input position o * stride + offset lies inside
// [0, size); outside them a kernel tap reads padding. Returned as [first, last).
struct ValidRange {
  int64_t first = 0, last = 0;
};
inline ValidRange valid_outputs(int64_t offset, int64_t stride, int64_t size, int64_t out) {
  // o * stride + offset >= 0  <=>  o >= ceil(-offset / stride)
  const int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // o * stride + offset <= size - 1  <=>  o <= floor((size - 1 - offset) / stride)
  const int64_t last = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  const int64_t clamped_first = std::min(first, out);
  return {clamped_first, std::clamp(last, clamped_first, out)};
}

namespace detail {

// Row r = (c, ki, kj) of the column matrix: what tap (ki, kj) of channel c reads at each
// output position, 0 on padding.
template <class T>
void im2col_row(const T* image, const ImageStrides& s, const Conv2dGeometry& g, int64_t r, T* dst) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t c = r / taps, ki = r % taps / g.kernel_w, kj = r % g.kernel_w;
  const int64_t h_offset = ki * g.dilation_h - g.pad_h;
  const int64_t w_offset = kj * g.dilation_w - g.pad_w;
  const ValidRange rows = valid_outputs(h_offset, g.stride_h, g.height, g.out_h);
  const ValidRange cols = valid_outputs(w_offset, g.stride_w, g.width, g.out_w);
  const T* channel = image + c * s.c;
  std::fill(dst, dst + rows.first * g.out_w, T(0));
  for (int64_t oh = rows.first; oh < rows.last; ++oh) {
    T* out_row = dst + oh * g.out_w;
    const T* in_row = channel + (oh * g.stride_h + h_offset) * s.h;
    std::fill(out_row, out_row + cols.first, T(0));
    if (g.stride_w == 1 && s.w == 1) {  // the common case: a dense copy
#pragma omp simd
      for (int64_t ow = cols.first; ow < cols.last; ++ow) out_row[ow] = in_row[ow + w_offset];
    } else {
#pragma omp simd
      for (int64_t ow = cols.first; ow < cols.last; ++ow)
        out_row[ow] = in_row[(ow * g.stride_w + w_offset) * s.w];
    }
    std::fill(out_row + cols.last, out_row + g.out_w, T(0));
  }
  std::fill(dst + rows.last * g.out_w, dst + g.col_cols(), T(0));
}

// Adds the column-matrix row of tap (ki, kj) back onto the pixels of its channel (H, W)
// that the tap read: the adjoint of im2col_row.
template <class T>
void col2im_row(const T* src, const Conv2dGeometry& g, int64_t ki, int64_t kj, T* channel) {
  const int64_t h_offset = ki * g.dilation_h - g.pad_h;
  const int64_t w_offset = kj * g.dilation_w - g.pad_w;
  const ValidRange rows = valid_outputs(h_offset, g.stride_h, g.height, g.out_h);
  const ValidRange cols = valid_outputs(w_offset, g.stride_w, g.width, g.out_w);
  for (int64_t oh = rows.first; oh < rows.last; ++oh) {
    const T* in_row = src + oh * g.out_w;
    T* out_row = channel + (oh * g.stride_h + h_offset) * g.width;
    // Distinct ow hit distinct pixels (stride >= 1), so both loops are safe to vectorize.
    if (g.stride_w == 1) {
#pragma omp simd
      for (int64_t ow = cols.first; ow < cols.last; ++ow) out_row[ow + w_offset] += in_row[ow];
    } else {
#pragma omp simd
      for (int64_t ow = cols.first; ow < cols.last; ++ow) out_row[ow * g.stride_w + w_offset] += in_row[ow];
    }
  }
}

}  // namespace detail

// col (C*kh*kw, oh*ow), row-major, from image (C, H, W); zero where a tap reads padding.
// Parallel over rows of col.
template <class T>
void im2col(const T* image, const ImageStrides& s, const Conv2dGeometry& g, T* col) {
  const int64_t plane = g.col_cols();
  parallel_for(g.col_rows(), std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(plane, 1)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) detail::im2col_row(image, s, g, r, col + r * plane);
               });
}

// image (C, H, W), contiguous, += the fold of col (C*kh*kw, oh*ow): every column entry is
// added back to the pixel it was read from (the adjoint of im2col; padding taps vanish).
// Parallel over channels: a channel's pixels receive only that channel's rows.
template <class T>
void col2im(const T* col, const Conv2dGeometry& g, T* image) {
  const int64_t plane = g.col_cols();
  const int64_t taps = g.kernel_h * g.kernel_w;
  parallel_for(g.channels, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(taps * plane, 1)),
               [&](int64_t c0, int64_t c1) {
                 for (int64_t c = c0; c < c1; ++c) {
                   T* channel = image + c * g.height * g.width;
                   for (int64_t tap = 0; tap < taps; ++tap)
                     detail::col2im_row(col + (c * taps + tap) * plane, g, tap / g.kernel_w,
                                        tap % g.kernel_w, channel);
                 }
               });
}

}  // namespace torus::cpu
