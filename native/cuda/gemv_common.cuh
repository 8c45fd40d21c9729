// What the GEMV kernels (gemv.cu, gemv_dense.cu) share: a warp owns an output row, kWarps rows
// per block; x rows are read through L1 (every warp of the block reads the same x), weights once.
#pragma once
#include "cuda_common.cuh"

namespace pagedinfer::cuda {

constexpr int kGemvWarps = 8;

// x[t][8i .. 8i+8) as floats.
__device__ __forceinline__ void loadX8(const bf16* x, int64_t K, int t, int64_t i, float* f) {
  uint4 v = __ldg(reinterpret_cast<const uint4*>(x + t * K) + i);
  unpackBf16x8(v, f);
}

// The warp's per-lane sums reduced; lane 0 writes token t's value of row n (+ bias).
template <int TMAX, bool OUT_F32>
__device__ __forceinline__ void storeRow(void* out, int64_t ldOut, int64_t n, float* acc, int T, const float* bias) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int t = 0; t < TMAX; t++) {
    float v = warpSum(acc[t]);
    if (lane == 0 && t < T) {
      if (bias) v += bias[n];
      if constexpr (OUT_F32) static_cast<float*>(out)[t * ldOut + n] = v;
      else static_cast<bf16*>(out)[t * ldOut + n] = __float2bfloat16_rn(v);
    }
  }
}

}  // namespace pagedinfer::cuda
