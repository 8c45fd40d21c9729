// Decode GEMV for bf16 / f16 weights, the bytes that set batch-1 decode speed (docs/cuda-kernels.md).
//
// A warp owns an output row and streams it with 16-byte loads, U in flight per lane. Two things
// beyond the plain loop, both against the fixed cost of short kernels (a 4096x4096 matrix is an
// 11 µs read, and a layer had seven of them plus four small kernels):
//  - Fewer launches: one launch takes several weights that share x (q, k, v: "segments", each
//    writing its own output), and gate/up take one launch that also applies SwiGLU (a warp owns
//    gate row n and up row n and writes silu(g) * u).
//  - Overlap: launched chained (pdl.cuh), a warp issues its first U weight loads before waiting for
//    the previous kernel, so the matrix is already streaming when x becomes ready.
// Each lane visits its vectors in the same order as the separate kernels did, and the fused
// SwiGLU rounds g and u to bf16 before combining them as the separate ops do: results are
// bit-identical to the unfused path.
#include <type_traits>

#include "cuda_check.h"
#include "gemv_common.cuh"
#include "kernels.h"
#include "pdl.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kWarps = kGemvWarps;
// One token: keep 4 blocks (32 warps) per SM, i.e. at most 64 registers, so that a 4096-row
// matrix (512 blocks) is resident at once.
template <int TMAX>
constexpr int kMinBlocks = TMAX == 1 ? 4 : 2;

template <typename WT>
__device__ __forceinline__ void unpackW8(const uint4& v, float* f) {
  if constexpr (std::is_same_v<WT, __half>) unpackHalfx8(v, f);
  else unpackBf16x8(v, f);
}

// acc[t] += w[8i .. 8i+8) . x[t][8i .. 8i+8) for the T tokens.
template <typename WT, int TMAX>
__device__ __forceinline__ void dot8(const uint4& wv, const bf16* x, int64_t K, int T, int64_t i, float* acc) {
  float wf[8], xf[8];
  unpackW8<WT>(wv, wf);
#pragma unroll
  for (int t = 0; t < TMAX; t++) {
    if (t < T) {
      loadX8(x, K, t, i, xf);
#pragma unroll
      for (int j = 0; j < 8; j++) acc[t] = fmaf(wf[j], xf[j], acc[t]);
    }
  }
}

// Per-lane partial dot products of R weight rows (nv 16-byte vectors each) with the T tokens'
// x. Lane l takes vectors l, l + 32, ... in order; U of them per row are loaded before any is
// used (streaming: weights are read once, evict-first, leaving L1 to x). The first batch goes out
// before pdlWait(): weights are constant, x is the previous kernel's output.
template <typename WT, int TMAX, int U, int R>
__device__ __forceinline__ void rowsDot(const uint4* const (&rows)[R], int64_t nv, const bf16* x, int64_t K, int T,
                                        float (&acc)[R][TMAX]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int t = 0; t < TMAX; t++) acc[r][t] = 0.0f;
  uint4 wv[R][U];
  int64_t i = lane;
  bool full = i + (U - 1) * 32 < nv;
  if (full) {
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
      for (int u = 0; u < U; u++) wv[r][u] = __ldcs(rows[r] + i + u * 32);
  }
  pdlWait();
  while (full) {
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
      for (int u = 0; u < U; u++) dot8<WT, TMAX>(wv[r][u], x, K, T, i + u * 32, acc[r]);
    i += U * 32;
    full = i + (U - 1) * 32 < nv;
    if (full) {
#pragma unroll
      for (int r = 0; r < R; r++)
#pragma unroll
        for (int u = 0; u < U; u++) wv[r][u] = __ldcs(rows[r] + i + u * 32);
    }
  }
  for (; i < nv; i += 32)
#pragma unroll
    for (int r = 0; r < R; r++) dot8<WT, TMAX>(__ldcs(rows[r] + i), x, K, T, i, acc[r]);
}

// Rows are numbered across the segments; a warp finds its segment with compile-time indices
// (the parameters stay in the constant bank, no local copy).
template <typename WT, int TMAX, bool OUT_F32>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks<TMAX>)
    gemvDenseKernel(GemvSegments segs, const bf16* __restrict__ x, int64_t K, int T) {
  pdlLaunchDependents();
  int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  GemvSegment seg = segs.s[0];
#pragma unroll
  for (int s = 1; s < kGemvMaxSegments; s++) {
    if (s < segs.count && n >= seg.rows) {
      n -= seg.rows;
      seg = segs.s[s];
    }
  }
  if (n >= seg.rows) {  // past the last row: still wait, so that this grid completes after its predecessor
    pdlWait();
    return;
  }
  const uint4* rows[1] = {reinterpret_cast<const uint4*>(static_cast<const WT*>(seg.w) + n * K)};
  float acc[1][TMAX];
  rowsDot<WT, TMAX, 8, 1>(rows, K / 8, x, K, T, acc);
  storeRow<TMAX, OUT_F32>(seg.out, seg.ldOut, n, acc[0], T, seg.bias);
}

__device__ __forceinline__ float roundBf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// Gate and up row n, four loads in flight per row (eight per lane, as the plain kernel); lane 0
// writes bf16(silu(g) * u) with g and u rounded as the unfused GEMV outputs are.
template <typename WT, int TMAX>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks<TMAX>)
    gemvSwigluKernel(const WT* __restrict__ gate, const WT* __restrict__ up, const bf16* __restrict__ x,
                     bf16* __restrict__ out, int64_t K, int64_t N, int64_t ldOut, int T) {
  pdlLaunchDependents();
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N) {
    pdlWait();
    return;
  }
  const uint4* rows[2] = {reinterpret_cast<const uint4*>(gate + n * K), reinterpret_cast<const uint4*>(up + n * K)};
  float acc[2][TMAX];
  rowsDot<WT, TMAX, 4, 2>(rows, K / 8, x, K, T, acc);
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int t = 0; t < TMAX; t++) {
    const float g = roundBf16(warpSum(acc[0][t])), u = roundBf16(warpSum(acc[1][t]));
    if (lane == 0 && t < T) out[t * ldOut + n] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
  }
}

template <typename WT, int TMAX>
void launchDenseTyped(const GemvSegments& segs, bool outF32, const bf16* x, int T, int64_t K, cudaStream_t stream) {
  int64_t rows = 0;
  for (int s = 0; s < segs.count; s++) rows += segs.s[s].rows;
  const dim3 grid(unsigned((rows + kWarps - 1) / kWarps)), block(kWarps * 32);
  if (outF32) launchChained("gemv", gemvDenseKernel<WT, TMAX, true>, grid, block, 0, stream, segs, x, K, T);
  else launchChained("gemv", gemvDenseKernel<WT, TMAX, false>, grid, block, 0, stream, segs, x, K, T);
}

template <typename WT>
void launchDense(const GemvSegments& segs, bool outF32, const bf16* x, int T, int64_t K, cudaStream_t stream) {
  if (T == 1) launchDenseTyped<WT, 1>(segs, outF32, x, T, K, stream);
  else if (T == 2) launchDenseTyped<WT, 2>(segs, outF32, x, T, K, stream);
  else if (T <= 4) launchDenseTyped<WT, 4>(segs, outF32, x, T, K, stream);
  else launchDenseTyped<WT, 8>(segs, outF32, x, T, K, stream);
}

template <typename WT>
void launchSwiglu(bf16* out, int64_t ldOut, const bf16* x, int T, int64_t K, const WT* gate, const WT* up, int64_t N,
                  cudaStream_t stream) {
  const dim3 grid(unsigned((N + kWarps - 1) / kWarps)), block(kWarps * 32);
  if (T == 1)
    launchChained("gemvSwiglu", gemvSwigluKernel<WT, 1>, grid, block, 0, stream, gate, up, x, out, K, N, ldOut, T);
  else if (T == 2)
    launchChained("gemvSwiglu", gemvSwigluKernel<WT, 2>, grid, block, 0, stream, gate, up, x, out, K, N, ldOut, T);
  else if (T <= 4)
    launchChained("gemvSwiglu", gemvSwigluKernel<WT, 4>, grid, block, 0, stream, gate, up, x, out, K, N, ldOut, T);
  else
    launchChained("gemvSwiglu", gemvSwigluKernel<WT, 8>, grid, block, 0, stream, gate, up, x, out, K, N, ldOut, T);
}

}  // namespace

void launchGemvDense(const GemvSegments& segs, bool outF32, const uint16_t* x, int T, int64_t K, DType dtype,
                     cudaStream_t stream) {
  if (T <= 0 || T > kGemvMaxTokens || segs.count <= 0 || segs.count > kGemvMaxSegments || K % 8 != 0)
    throw InvalidArgumentError("internal: launchGemvDense takes 1..8 tokens, 1..3 segments and K % 8 == 0");
  const bf16* xb = reinterpret_cast<const bf16*>(x);
  if (dtype == DType::BF16) launchDense<bf16>(segs, outF32, xb, T, K, stream);
  else if (dtype == DType::F16) launchDense<__half>(segs, outF32, xb, T, K, stream);
  else throw InvalidArgumentError("internal: launchGemvDense takes bf16 or f16 weights");
}

void launchGemvSwiglu(uint16_t* out, int64_t ldOut, const uint16_t* x, int T, int64_t K, const void* gate, const void* up,
                      DType dtype, int64_t N, cudaStream_t stream) {
  if (T <= 0 || N <= 0) return;
  if (T > kGemvMaxTokens || K % 8 != 0)
    throw InvalidArgumentError("internal: launchGemvSwiglu takes 1..8 tokens and K % 8 == 0");
  bf16* o = reinterpret_cast<bf16*>(out);
  const bf16* xb = reinterpret_cast<const bf16*>(x);
  if (dtype == DType::BF16)
    launchSwiglu<bf16>(o, ldOut, xb, T, K, static_cast<const bf16*>(gate), static_cast<const bf16*>(up), N, stream);
  else if (dtype == DType::F16)
    launchSwiglu<__half>(o, ldOut, xb, T, K, static_cast<const __half*>(gate), static_cast<const __half*>(up), N, stream);
  else throw InvalidArgumentError("internal: launchGemvSwiglu takes bf16 or f16 weights");
}

}  // namespace pagedinfer::cuda
