// RMSNorm family. A block per row: the first pass sums squares in float (and, fused, adds the
// residual and stores the bf16 sum: the next layer reads exactly what was normalised), the second
// pass re-reads the row (L1-resident: a row is at most a few tens of KB) and writes
// x * rsqrt(mean + eps) * w. Rows are read with 16-byte vectors when the width allows.
#include <algorithm>

#include "cuda_check.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "pdl.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kThreads = 256;

// residual == nullptr: plain rmsnorm of x. Otherwise residual += x, then rmsnorm(residual).
__global__ void __launch_bounds__(kThreads) rmsnormKernel(bf16* __restrict__ out, bf16* residual, const bf16* x,
                                                          const float* __restrict__ w, int n, float eps) {
  __shared__ float scratch[32];
  pdlLaunchDependents();  // chained (pdl.cuh): the next projection may start loading its weights
  pdlWait();
  const int64_t base = int64_t(blockIdx.x) * n;
  const bf16* src = residual ? residual + base : x + base;
  float ss = 0.0f;
  if (n % 8 == 0) {
    for (int v = threadIdx.x; v < n / 8; v += blockDim.x) {
      float f[8];
      unpackBf16x8(reinterpret_cast<const uint4*>(x + base)[v], f);
      if (residual) {
        float r[8];
        unpackBf16x8(reinterpret_cast<const uint4*>(residual + base)[v], r);
#pragma unroll
        for (int j = 0; j < 8; j++) f[j] += r[j];
        uint4 packed = packBf16x8(f);
        reinterpret_cast<uint4*>(residual + base)[v] = packed;
        unpackBf16x8(packed, f);  // normalise the rounded sum
      }
#pragma unroll
      for (int j = 0; j < 8; j++) ss += f[j] * f[j];
    }
  } else {
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      float f = __bfloat162float(x[base + i]);
      if (residual) {
        bf16 s = __float2bfloat16_rn(f + __bfloat162float(residual[base + i]));
        residual[base + i] = s;
        f = __bfloat162float(s);
      }
      ss += f * f;
    }
  }
  const float inv = rsqrtf(blockSum(ss, scratch) / float(n) + eps);
  if (n % 8 == 0) {
    for (int v = threadIdx.x; v < n / 8; v += blockDim.x) {
      float f[8];
      unpackBf16x8(reinterpret_cast<const uint4*>(src)[v], f);
#pragma unroll
      for (int j = 0; j < 8; j++) f[j] = f[j] * inv * w[8 * v + j];
      reinterpret_cast<uint4*>(out + base)[v] = packBf16x8(f);
    }
  } else {
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      out[base + i] = __float2bfloat16_rn(__bfloat162float(src[i]) * inv * w[i]);
  }
}

// The register-resident norms below: thread i holds pieces i, i + blockDim.x, ... (VPT of them)
// of a row of nv 16-byte pieces, and the matching 8 weights of each.
template <int VPT>
__device__ __forceinline__ void loadNormWeights(const float* __restrict__ w, int nv, float4 (&wv)[VPT][2]) {
#pragma unroll
  for (int u = 0; u < VPT; u++) {
    const int v = threadIdx.x + u * blockDim.x;
    if (v < nv) {
      wv[u][0] = __ldg(reinterpret_cast<const float4*>(w) + 2 * v);
      wv[u][1] = __ldg(reinterpret_cast<const float4*>(w) + 2 * v + 1);
    }
  }
}

// The held pieces of a bf16 row (issued together, before any is used).
template <int VPT>
__device__ __forceinline__ void loadRowPieces(const bf16* row, int nv, uint4 (&p)[VPT]) {
#pragma unroll
  for (int u = 0; u < VPT; u++) {
    const int v = threadIdx.x + u * blockDim.x;
    if (v < nv) p[u] = reinterpret_cast<const uint4*>(row)[v];
  }
}

// out piece = bf16(f * inv * w) for each held piece.
template <int VPT>
__device__ __forceinline__ void storeNormalized(bf16* __restrict__ out, float (&f)[VPT][8], const float4 (&wv)[VPT][2],
                                                float inv, int nv) {
#pragma unroll
  for (int u = 0; u < VPT; u++) {
    const int v = threadIdx.x + u * blockDim.x;
    if (v >= nv) continue;
    const float wf[8] = {wv[u][0].x, wv[u][0].y, wv[u][0].z, wv[u][0].w, wv[u][1].x, wv[u][1].y, wv[u][1].z, wv[u][1].w};
#pragma unroll
    for (int j = 0; j < 8; j++) f[u][j] = f[u][j] * inv * wf[j];
    reinterpret_cast<uint4*>(out)[v] = packBf16x8(f[u]);
  }
}

// The same for n % 8 == 0 and at most 1024 * VPT 16-byte pieces: each thread holds its VPT
// pieces in registers between the two passes, and the weights (constant) are read before the wait
// on the previous kernel. At batch 1 this is one block on the decode chain's critical path: its
// cost is the latency of its few dependent steps, not bytes.
template <int VPT>
__global__ void __launch_bounds__(1024) rmsnormVecKernel(bf16* __restrict__ out, bf16* residual, const bf16* x,
                                                         const float* __restrict__ w, int n, float eps) {
  __shared__ float scratch[32];
  pdlLaunchDependents();
  const int nv = n / 8;
  const int64_t base = int64_t(blockIdx.x) * n;
  float4 wv[VPT][2];
  loadNormWeights<VPT>(w, nv, wv);
  pdlWait();
  uint4 xv[VPT], rv[VPT];
  loadRowPieces<VPT>(x + base, nv, xv);
  if (residual) loadRowPieces<VPT>(residual + base, nv, rv);
  float f[VPT][8], ss = 0.0f;
#pragma unroll
  for (int u = 0; u < VPT; u++) {
    const int v = threadIdx.x + u * blockDim.x;
    if (v >= nv) continue;
    unpackBf16x8(xv[u], f[u]);
    if (residual) {
      float r[8];
      unpackBf16x8(rv[u], r);
#pragma unroll
      for (int j = 0; j < 8; j++) f[u][j] += r[j];
      const uint4 packed = packBf16x8(f[u]);
      reinterpret_cast<uint4*>(residual + base)[v] = packed;
      unpackBf16x8(packed, f[u]);  // normalise the rounded sum
    }
#pragma unroll
    for (int j = 0; j < 8; j++) ss += f[u][j] * f[u][j];
  }
  const float inv = rsqrtf(blockSum(ss, scratch) / float(n) + eps);
  storeNormalized<VPT>(out + base, f, wv, inv, nv);
}

// A warp per (row, head), in place: qwen3's q/k norm over headDim values.
__global__ void headRmsnormKernel(bf16* x, int64_t numHeadRows, int heads, int64_t ld, int headDim, const float* __restrict__ w,
                                  float eps) {
  const int64_t h = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (h >= numHeadRows) return;
  bf16* p = x + (h / heads) * ld + (h % heads) * headDim;
  float ss = 0.0f;
  for (int i = lane; i < headDim; i += 32) {
    float f = __bfloat162float(p[i]);
    ss += f * f;
  }
  const float inv = rsqrtf(warpSum(ss) / float(headDim) + eps);
  for (int i = lane; i < headDim; i += 32) p[i] = __float2bfloat16_rn(__bfloat162float(p[i]) * inv * w[i]);
}

// Only the rows that produce logits: out[r] = rmsnorm(residual[rows[r]] + x[rows[r]]) * w, the
// sum kept in float (it is not stored back).
__global__ void __launch_bounds__(kThreads) finalNormKernel(bf16* __restrict__ out, const bf16* __restrict__ residual,
                                                            const bf16* __restrict__ x, const int32_t* __restrict__ rows,
                                                            int n, const float* __restrict__ w, float eps) {
  __shared__ float scratch[32];
  pdlLaunchDependents();
  pdlWait();
  const int64_t src = int64_t(rows[blockIdx.x]) * n, dst = int64_t(blockIdx.x) * n;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float f = __bfloat162float(residual[src + i]) + __bfloat162float(x[src + i]);
    ss += f * f;
  }
  const float inv = rsqrtf(blockSum(ss, scratch) / float(n) + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float f = __bfloat162float(residual[src + i]) + __bfloat162float(x[src + i]);
    out[dst + i] = __float2bfloat16_rn(f * inv * w[i]);
  }
}

// finalNormKernel for n % 8 == 0 and at most 1024 * VPT 16-byte pieces, the pieces held in
// registers (one block per step on the decode chain, as rmsnormVecKernel).
template <int VPT>
__global__ void __launch_bounds__(1024) finalNormVecKernel(bf16* __restrict__ out, const bf16* __restrict__ residual,
                                                           const bf16* __restrict__ x, const int32_t* __restrict__ rows,
                                                           int n, const float* __restrict__ w, float eps) {
  __shared__ float scratch[32];
  pdlLaunchDependents();
  const int nv = n / 8;
  const int64_t src = int64_t(rows[blockIdx.x]) * n, dst = int64_t(blockIdx.x) * n;  // rows: a step input
  float4 wv[VPT][2];
  loadNormWeights<VPT>(w, nv, wv);
  pdlWait();
  uint4 xv[VPT], rv[VPT];
  loadRowPieces<VPT>(x + src, nv, xv);
  loadRowPieces<VPT>(residual + src, nv, rv);
  float f[VPT][8], ss = 0.0f;
#pragma unroll
  for (int u = 0; u < VPT; u++) {
    if (threadIdx.x + u * blockDim.x >= nv) continue;
    float r[8];
    unpackBf16x8(xv[u], f[u]);
    unpackBf16x8(rv[u], r);
#pragma unroll
    for (int j = 0; j < 8; j++) {
      f[u][j] += r[j];
      ss += f[u][j] * f[u][j];
    }
  }
  const float inv = rsqrtf(blockSum(ss, scratch) / float(n) + eps);
  storeNormalized<VPT>(out + dst, f, wv, inv, nv);
}

// Threads for n / 8 pieces at vpt pieces each (a whole number of warps).
dim3 vecBlock(int nv, int vpt) { return dim3(unsigned(std::max(32, ((nv + vpt - 1) / vpt + 31) / 32 * 32))); }

}  // namespace

void launchRmsnorm(uint16_t* out, uint16_t* residual, const uint16_t* x, const float* w, int rows, int n, float eps,
                   cudaStream_t stream) {
  if (rows <= 0) return;
  const int nv = n / 8;
  if (n % 8 == 0 && nv <= 2 * 1024) {
    const int vpt = nv <= 1024 ? 1 : 2;
    launchChained("rmsnorm", vpt == 1 ? rmsnormVecKernel<1> : rmsnormVecKernel<2>, dim3(rows), vecBlock(nv, vpt), 0, stream,
                  reinterpret_cast<bf16*>(out), reinterpret_cast<bf16*>(residual), reinterpret_cast<const bf16*>(x), w, n, eps);
    return;
  }
  launchChained("rmsnorm", rmsnormKernel, dim3(rows), dim3(kThreads), 0, stream, reinterpret_cast<bf16*>(out),
                reinterpret_cast<bf16*>(residual), reinterpret_cast<const bf16*>(x), w, n, eps);
}

void launchHeadRmsnorm(uint16_t* x, int rows, int64_t ld, int heads, int headDim, const float* w, float eps,
                       cudaStream_t stream) {
  const int64_t headRows = int64_t(rows) * heads;
  if (headRows <= 0) return;
  headRmsnormKernel<<<unsigned((headRows + 7) / 8), 256, 0, stream>>>(reinterpret_cast<bf16*>(x), headRows, heads, ld, headDim,
                                                                      w, eps);
  CUDA_CHECK_LAUNCH("headRmsnorm");
}

void launchFinalNorm(uint16_t* out, const uint16_t* residual, const uint16_t* x, const int32_t* rows, int numRows, int n,
                     const float* w, float eps, cudaStream_t stream) {
  if (numRows <= 0) return;
  const int nv = n / 8;
  if (n % 8 == 0 && nv <= 2 * 1024) {
    const int vpt = nv <= 1024 ? 1 : 2;
    launchChained("finalNorm", vpt == 1 ? finalNormVecKernel<1> : finalNormVecKernel<2>, dim3(numRows), vecBlock(nv, vpt), 0,
                  stream, reinterpret_cast<bf16*>(out), reinterpret_cast<const bf16*>(residual),
                  reinterpret_cast<const bf16*>(x), rows, n, w, eps);
    return;
  }
  launchChained("finalNorm", finalNormKernel, dim3(numRows), dim3(kThreads), 0, stream, reinterpret_cast<bf16*>(out),
                reinterpret_cast<const bf16*>(residual), reinterpret_cast<const bf16*>(x), rows, n, w, eps);
}

}  // namespace pagedinfer::cuda
