// A kernel that must spill (96 live floats under a 32-register bound), for the resource
// check's own test: the check has to report it, and the missing kernel kernels.txt names.
__global__ void __launch_bounds__(1024, 2) spilly_kernel(float* out, const float* in, int n) {
  float acc[96];
#pragma unroll
  for (int i = 0; i < 96; ++i) acc[i] = in[threadIdx.x * 96 + i];
  for (int r = 0; r < n; ++r) {
#pragma unroll
    for (int i = 0; i < 96; ++i) acc[i] = acc[i] * acc[(i + 7) % 96] + in[r + i];
  }
#pragma unroll
  for (int i = 0; i < 96; ++i) out[threadIdx.x * 96 + i] = acc[i];
}
