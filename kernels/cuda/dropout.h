// Dropout over a contiguous f32 device buffer of N elements with the counter-based Philox
// stream (philox.h): element i is kept when the top 24 bits of word i % 4 of
// philox_block(seed, offset + i / 4), as a float in [0, 1), are >= p. That is the CPU
// dropout's rule (framework/ops/dropout.cpp) for a generator at (seed, offset), so both
// backends draw the same mask, and any launch configuration draws the same mask.
//
// The backward regenerates the mask from (seed, offset) instead of reading a stored one:
// nothing of 1 B per element has to live from forward to backward (for a transformer,
// one mask per residual and attention dropout per layer), and the backward moves 8 B per
// element instead of 9. Regenerating costs 10 Philox rounds per 4 elements, which the
// memory traffic hides. The forward can still write the mask (u8) for callers that keep
// one, e.g. the framework's autograd node as it stands, or for tests.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

// y = x * keep * scale with scale = 1 / (1 - p) (0 when p == 1: all dropped, y = x * 0 as
// the CPU, so inf and NaN inputs give NaN). x, y: (N), may alias; mask: (N) u8 or nullptr,
// 1 where kept. 0 <= p <= 1. Uses blocks offset .. offset + ceil(N / 4) - 1 of the stream:
// the caller advances its counter by that many (Generator::reserve).
void dropout_forward(const float* x, float* y, uint8_t* mask, int64_t n, double p, uint64_t seed,
                     uint64_t offset, cudaStream_t stream);

// grad_x = grad_y * keep * scale with keep regenerated from (seed, offset) of the forward.
// grad_y, grad_x: (N), may alias.
void dropout_backward(const float* grad_y, float* grad_x, int64_t n, double p, uint64_t seed, uint64_t offset,
                      cudaStream_t stream);

}  // namespace torus::cuda
