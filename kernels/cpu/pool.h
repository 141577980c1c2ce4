// 2-D max and average pooling over planes (P = N*C of them), forward and backward,
// parallel over planes.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace torus::cpu {

// One (H, W) input plane pooled into an (oh, ow) output plane.
struct Pool2dGeometry {
  int64_t height = 0, width = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t out_h = 0, out_w = 0;

  int64_t in_plane() const { return height * width; }
  int64_t out_plane() const { return out_h * out_w; }
};

// Element strides of an input (N, C, H, W) as stored; plane p is (n, c) = (p / C, p % C).
struct PlaneStrides {
  int64_t channels = 1;
  int64_t n = 0, c = 0, h = 0, w = 0;
};

namespace detail {

// The window of output position `o` along one axis, clipped to the input [0, size).
struct Window {
  int64_t begin, end;
};
inline Window pool_window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(start, 0), std::min(start + kernel, size)};
}

// Runs body(plane_begin, plane_end) over P planes with a grain sized by the work per plane.
template <class Body>
void for_planes(int64_t planes, int64_t work_per_plane, const Body& body) {
  parallel_for(planes, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(work_per_plane, 1)),
               body);
}

}  // namespace detail

// out (P, oh, ow) = the max of each window of in; argmax (P, oh, ow) = its flat index h*W + w
// within the plane (the first maximum; NaN wins, as in PyTorch). Padding never wins: every
// window holds at least one input element because padding is at most half the kernel.
template <class T>
void max_pool2d_forward(const T* in, const PlaneStrides& s, const Pool2dGeometry& g,
                        int64_t planes, T* out, int64_t* argmax) {
  // Unpadded 2x2 windows, stride 2, rows dense: the usual CNN pooling (every window lies
  // inside the plane, no clipping), without the general loop's per-window bookkeeping.
  const bool k2s2 = g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 &&
                    g.pad_w == 0 && s.w == 1;
  // Later elements win when greater, or when NaN over a number (PyTorch's rule).
  auto better = [](T v, T best) { return v > best || (v != v && best == best); };
  detail::for_planes(planes, g.out_plane() * g.kernel_h * g.kernel_w, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = in + (p / s.channels) * s.n + (p % s.channels) * s.c;
      T* dst = out + p * g.out_plane();
      int64_t* dst_index = argmax + p * g.out_plane();
      if (k2s2) {
        // Locals, not g's fields: the int64_t argmax stores could alias them, which made
        // the compiler reload them after every store and kept the loop scalar.
        const int64_t width = g.width, out_h = g.out_h, out_w = g.out_w, row_stride = s.h;
        for (int64_t oh = 0; oh < out_h; ++oh) {
          const T* top = plane + 2 * oh * row_stride;
          const T* bottom = top + row_stride;
          const int64_t row = 2 * oh * width;
          T* out_row = dst + oh * out_w;
          int64_t* index_row = dst_index + oh * out_w;
          // Selects, not branches: which of the four wins is a coin toss on real data.
#pragma omp simd
          for (int64_t ow = 0; ow < out_w; ++ow) {
            const int64_t iw = 2 * ow;
            T best = top[iw];
            int64_t offset = 0;  // of the winner: 0, 1, width, width + 1
            const T b = top[iw + 1], c = bottom[iw], d = bottom[iw + 1];
            const bool take_b = better(b, best);
            best = take_b ? b : best;
            offset = take_b ? 1 : offset;
            const bool take_c = better(c, best);
            best = take_c ? c : best;
            offset = take_c ? width : offset;
            const bool take_d = better(d, best);
            best = take_d ? d : best;
            offset = take_d ? width + 1 : offset;
            out_row[ow] = best;
            index_row[ow] = row + iw + offset;
          }
        }
        continue;
      }
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const auto rows = detail::pool_window(oh, g.stride_h, g.pad_h, g.kernel_h, g.height);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const auto cols = detail::pool_window(ow, g.stride_w, g.pad_w, g.kernel_w, g.width);
          T best = plane[rows.begin * s.h + cols.begin * s.w];
          int64_t best_index = rows.begin * g.width + cols.begin;
          for (int64_t ih = rows.begin; ih < rows.end; ++ih) {
            for (int64_t iw = cols.begin; iw < cols.end; ++iw) {
              const T v = plane[ih * s.h + iw * s.w];
              if (v > best || (v != v && best == best)) {
                best = v;
                best_index = ih * g.width + iw;
              }
            }
          }
          dst[oh * g.out_w + ow] = best;
          dst_index[oh * g.out_w + ow] = best_index;
        }
      }
    }
  });
}

// grad_in (P, H, W), contiguous and zeroed by the caller, += grad_out routed to each argmax.
template <class T>
void max_pool2d_backward(const T* grad_out, const int64_t* argmax, const Pool2dGeometry& g,
                         int64_t planes, T* grad_in) {
  // Overlapping windows may share an argmax, so a plane is accumulated by one thread.
  detail::for_planes(planes, g.out_plane(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* src = grad_out + p * g.out_plane();
      const int64_t* index = argmax + p * g.out_plane();
      T* dst = grad_in + p * g.in_plane();
      for (int64_t o = 0; o < g.out_plane(); ++o) dst[index[o]] += src[o];
    }
  });
}

// out (P, oh, ow) = the mean of each window, padding counted in the divisor
// (count_include_pad = true): the divisor is always kh * kw.
template <class T>
void avg_pool2d_forward(const T* in, const PlaneStrides& s, const Pool2dGeometry& g,
                        int64_t planes, T* out) {
  const T scale = T(1) / static_cast<T>(g.kernel_h * g.kernel_w);
  detail::for_planes(planes, g.out_plane() * g.kernel_h * g.kernel_w, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = in + (p / s.channels) * s.n + (p % s.channels) * s.c;
      T* dst = out + p * g.out_plane();
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const auto rows = detail::pool_window(oh, g.stride_h, g.pad_h, g.kernel_h, g.height);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const auto cols = detail::pool_window(ow, g.stride_w, g.pad_w, g.kernel_w, g.width);
          T acc = 0;
          for (int64_t ih = rows.begin; ih < rows.end; ++ih) {
            const T* row = plane + ih * s.h;
            for (int64_t iw = cols.begin; iw < cols.end; ++iw) acc += row[iw * s.w];
          }
          dst[oh * g.out_w + ow] = acc * scale;
        }
      }
    }
  });
}

// grad_in (P, H, W), contiguous and zeroed by the caller, += each output's gradient spread
// evenly over its window (padding positions take their share and drop it).
template <class T>
void avg_pool2d_backward(const T* grad_out, const Pool2dGeometry& g, int64_t planes, T* grad_in) {
  const T scale = T(1) / static_cast<T>(g.kernel_h * g.kernel_w);
  detail::for_planes(planes, g.out_plane() * g.kernel_h * g.kernel_w, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* src = grad_out + p * g.out_plane();
      T* dst = grad_in + p * g.in_plane();
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const auto rows = detail::pool_window(oh, g.stride_h, g.pad_h, g.kernel_h, g.height);
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const auto cols = detail::pool_window(ow, g.stride_w, g.pad_w, g.kernel_w, g.width);
          const T share = src[oh * g.out_w + ow] * scale;
          for (int64_t ih = rows.begin; ih < rows.end; ++ih) {
            T* row = dst + ih * g.width;
#pragma omp simd
            for (int64_t iw = cols.begin; iw < cols.end; ++iw) row[iw] += share;
          }
        }
      }
    }
  });
}

}  // namespace torus::cpu
