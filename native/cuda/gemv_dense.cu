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
//  - At one token the layer's norms ride along (Backend::fusesNorms): o and down add their rows
//    into the residual (ACCUM), q/k/v and gate/up read x as the normalised residual (NormedX).
// Each lane visits its vectors in the same order as the separate kernels did, and the fused
// SwiGLU rounds g and u to bf16 before combining them as the separate ops do: results are
// bit-identical to the unfused path (with NormedX, h's sum of squares is reduced in another order
// than the norm kernel's, so h may differ from it in the last bf16 bit).
#include <string>
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

__device__ __forceinline__ float roundBf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// Where a GEMV's input comes from. PlainX: the T tokens' rows of x.
struct PlainX {
  static constexpr bool kShared = false;
  const bf16* x;
  int64_t K;
  __device__ __forceinline__ void bind(uint4*) {}
  __device__ __forceinline__ void ready(int64_t) {}
  __device__ __forceinline__ void load8(int t, int64_t i, float* f) const { loadX8(x, K, t, i, f); }
};

// NormedX (one token): after the wait the block writes h = bf16(rmsnorm(residual) * w) into
// shared memory ((r * inv) * w, rounded as the rmsnorm kernels store it), and the warps read h
// from there: no norm kernel between the producing projection and this one. Every thread of the
// block calls ready() (it synchronises), warps past the last row included.
struct NormedX {
  static constexpr bool kShared = true;
  const bf16* r;
  const float* w;
  float eps;
  uint4* h = nullptr;  // K / 8 vectors of dynamic shared memory
  __device__ __forceinline__ void bind(uint4* shared) { h = shared; }
  __device__ __forceinline__ void ready(int64_t nv) {
    __shared__ float scratch[32];
    const uint4* rv = reinterpret_cast<const uint4*>(r);
    float ss = 0.0f;
    for (int64_t v = threadIdx.x; v < nv; v += blockDim.x) {
      float f[8];
      unpackBf16x8(__ldg(rv + v), f);
#pragma unroll
      for (int j = 0; j < 8; j++) ss += f[j] * f[j];
    }
    const float inv = rsqrtf(blockSum(ss, scratch) / float(nv * 8) + eps);
    for (int64_t v = threadIdx.x; v < nv; v += blockDim.x) {
      float f[8];
      unpackBf16x8(__ldg(rv + v), f);
      const float4 w0 = __ldg(reinterpret_cast<const float4*>(w) + 2 * v), w1 = __ldg(reinterpret_cast<const float4*>(w) + 2 * v + 1);
      const float wf[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
      for (int j = 0; j < 8; j++) f[j] = f[j] * inv * wf[j];
      h[v] = packBf16x8(f);
    }
    __syncthreads();
  }
  __device__ __forceinline__ void load8(int, int64_t i, float* f) const { unpackBf16x8(h[i], f); }
};

// acc[t] += w[8i .. 8i+8) . x[t][8i .. 8i+8) for the T tokens.
template <typename WT, int TMAX, typename X>
__device__ __forceinline__ void dot8(const uint4& wv, const X& xs, int T, int64_t i, float* acc) {
  float wf[8], xf[8];
  unpackW8<WT>(wv, wf);
#pragma unroll
  for (int t = 0; t < TMAX; t++) {
    if (t < T) {
      xs.load8(t, i, xf);
#pragma unroll
      for (int j = 0; j < 8; j++) acc[t] = fmaf(wf[j], xf[j], acc[t]);
    }
  }
}

// Per-lane partial dot products of R weight rows (nv 16-byte vectors each) with the T tokens'
// x. Lane l takes vectors l, l + 32, ... in order; U of them per row are loaded before any is
// used (streaming: weights are read once, evict-first, leaving L1 to x). The first batch goes out
// before pdlWait(): weights are constant, x is the previous kernel's output.
template <typename WT, int TMAX, int U, int R, typename X>
__device__ __forceinline__ void rowsDot(const uint4* const (&rows)[R], int64_t nv, X& xs, int T, float (&acc)[R][TMAX]) {
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
  xs.ready(nv);
  while (full) {
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
      for (int u = 0; u < U; u++) dot8<WT, TMAX>(wv[r][u], xs, T, i + u * 32, acc[r]);
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
    for (int r = 0; r < R; r++) dot8<WT, TMAX>(__ldcs(rows[r] + i), xs, T, i, acc[r]);
}

// Rows are numbered across the segments; a warp finds its segment with compile-time indices
// (the parameters stay in the constant bank, no local copy). ACCUM (one bf16 segment): the row's
// value is added into out instead, bf16(out + bf16(v)) as matmul + addRmsnorm round it; a warp
// owns its row, so out may be the residual that this grid alone updates.
template <typename WT, int TMAX, bool OUT_F32, bool ACCUM, typename X>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks<TMAX>)
    gemvDenseKernel(GemvSegments segs, X xs, int64_t K, int T) {
  extern __shared__ uint4 gemvShared[];
  xs.bind(gemvShared);
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
    xs.ready(K / 8);
    return;
  }
  const uint4* rows[1] = {reinterpret_cast<const uint4*>(static_cast<const WT*>(seg.w) + n * K)};
  float acc[1][TMAX];
  rowsDot<WT, TMAX, 8, 1>(rows, K / 8, xs, T, acc);
  if constexpr (ACCUM) {
    bf16* out = static_cast<bf16*>(seg.out);
#pragma unroll
    for (int t = 0; t < TMAX; t++) {
      const float v = roundBf16(warpSum(acc[0][t]));
      if ((threadIdx.x & 31) == 0 && t < T) {
        bf16& o = out[t * seg.ldOut + n];
        o = __float2bfloat16_rn(v + __bfloat162float(o));
      }
    }
  } else {
    storeRow<TMAX, OUT_F32>(seg.out, seg.ldOut, n, acc[0], T, seg.bias);
  }
}

// Gate and up row n, four loads in flight per row (eight per lane, as the plain kernel); lane 0
// writes bf16(silu(g) * u) with g and u rounded as the unfused GEMV outputs are.
template <typename WT, int TMAX, typename X>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks<TMAX>)
    gemvSwigluKernel(const WT* __restrict__ gate, const WT* __restrict__ up, X xs, bf16* __restrict__ out, int64_t K,
                     int64_t N, int64_t ldOut, int T) {
  extern __shared__ uint4 gemvShared[];
  xs.bind(gemvShared);
  pdlLaunchDependents();
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N) {
    pdlWait();
    xs.ready(K / 8);
    return;
  }
  const uint4* rows[2] = {reinterpret_cast<const uint4*>(gate + n * K), reinterpret_cast<const uint4*>(up + n * K)};
  float acc[2][TMAX];
  rowsDot<WT, TMAX, 4, 2>(rows, K / 8, xs, T, acc);
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int t = 0; t < TMAX; t++) {
    const float g = roundBf16(warpSum(acc[0][t])), u = roundBf16(warpSum(acc[1][t]));
    if (lane == 0 && t < T) out[t * ldOut + n] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
  }
}

int64_t totalRows(const GemvSegments& segs) {
  int64_t rows = 0;
  for (int s = 0; s < segs.count; s++) rows += segs.s[s].rows;
  return rows;
}

template <typename WT, int TMAX, bool ACCUM, typename X>
void launchDenseTyped(const GemvSegments& segs, bool outF32, const X& xs, int T, int64_t K, cudaStream_t stream) {
  const dim3 grid(unsigned((totalRows(segs) + kWarps - 1) / kWarps)), block(kWarps * 32);
  const size_t shared = X::kShared ? size_t(K) * 2 : 0;
  if (outF32) launchChained("gemv", gemvDenseKernel<WT, TMAX, true, ACCUM, X>, grid, block, shared, stream, segs, xs, K, T);
  else launchChained("gemv", gemvDenseKernel<WT, TMAX, false, ACCUM, X>, grid, block, shared, stream, segs, xs, K, T);
}

template <typename WT, int TMAX, typename X>
void launchSwigluTyped(bf16* out, int64_t ldOut, const X& xs, int T, int64_t K, const WT* gate, const WT* up, int64_t N,
                       cudaStream_t stream) {
  const dim3 grid(unsigned((N + kWarps - 1) / kWarps)), block(kWarps * 32);
  const size_t shared = X::kShared ? size_t(K) * 2 : 0;
  launchChained("gemvSwiglu", gemvSwigluKernel<WT, TMAX, X>, grid, block, shared, stream, gate, up, xs, out, K, N, ldOut, T);
}

// f(WT{}) for the weights' element type; `who` names the launcher in the error.
template <typename F>
void byWeightType(DType dtype, const char* who, F&& f) {
  if (dtype == DType::BF16) f(bf16{});
  else if (dtype == DType::F16) f(__half{});
  else throw InvalidArgumentError(std::string("internal: ") + who + " takes bf16 or f16 weights");
}

// f(TMAX) for the token-count bucket (1, 2, 4, 8) the kernels are compiled for.
template <typename F>
void byTokenBucket(int T, F&& f) {
  if (T == 1) f(std::integral_constant<int, 1>{});
  else if (T == 2) f(std::integral_constant<int, 2>{});
  else if (T <= 4) f(std::integral_constant<int, 4>{});
  else f(std::integral_constant<int, 8>{});
}

}  // namespace

void launchGemvDense(const GemvSegments& segs, bool outF32, const uint16_t* x, int T, int64_t K, DType dtype,
                     cudaStream_t stream) {
  if (T <= 0 || T > kGemvMaxTokens || segs.count <= 0 || segs.count > kGemvMaxSegments || K % 8 != 0)
    throw InvalidArgumentError("internal: launchGemvDense takes 1..8 tokens, 1..3 segments and K % 8 == 0");
  const PlainX xs{reinterpret_cast<const bf16*>(x), K};
  byWeightType(dtype, "launchGemvDense", [&](auto w) {
    byTokenBucket(T, [&](auto tmax) { launchDenseTyped<decltype(w), decltype(tmax)::value, false>(segs, outF32, xs, T, K, stream); });
  });
}

void launchGemvSwiglu(uint16_t* out, int64_t ldOut, const uint16_t* x, int T, int64_t K, const void* gate, const void* up,
                      DType dtype, int64_t N, cudaStream_t stream) {
  if (T <= 0 || N <= 0) return;
  if (T > kGemvMaxTokens || K % 8 != 0)
    throw InvalidArgumentError("internal: launchGemvSwiglu takes 1..8 tokens and K % 8 == 0");
  const PlainX xs{reinterpret_cast<const bf16*>(x), K};
  byWeightType(dtype, "launchGemvSwiglu", [&](auto w) {
    using WT = decltype(w);
    byTokenBucket(T, [&](auto tmax) {
      launchSwigluTyped<WT, decltype(tmax)::value>(reinterpret_cast<bf16*>(out), ldOut, xs, T, K, static_cast<const WT*>(gate),
                                  static_cast<const WT*>(up), N, stream);
    });
  });
}

void launchGemvDenseNormed(const GemvSegments& segs, bool outF32, const uint16_t* residual, const float* norm, float eps,
                           int64_t K, DType dtype, cudaStream_t stream) {
  if (segs.count <= 0 || segs.count > kGemvMaxSegments || K % 8 != 0 || K > kGemvNormedMaxWidth)
    throw InvalidArgumentError("internal: launchGemvDenseNormed takes 1..3 segments and K % 8 == 0, K <= 16384");
  const NormedX xs{reinterpret_cast<const bf16*>(residual), norm, eps};
  byWeightType(dtype, "launchGemvDenseNormed",
               [&](auto w) { launchDenseTyped<decltype(w), 1, false>(segs, outF32, xs, 1, K, stream); });
}

void launchGemvIntoResidual(uint16_t* residual, const uint16_t* x, int64_t K, const void* w, DType dtype, int64_t N,
                            cudaStream_t stream) {
  if (K % 8 != 0) throw InvalidArgumentError("internal: launchGemvIntoResidual takes K % 8 == 0");
  GemvSegments segs;
  segs.s[0] = GemvSegment{w, residual, nullptr, N, N};
  segs.count = 1;
  const PlainX xs{reinterpret_cast<const bf16*>(x), K};
  byWeightType(dtype, "launchGemvIntoResidual",
               [&](auto wt) { launchDenseTyped<decltype(wt), 1, true>(segs, false, xs, 1, K, stream); });
}

void launchGemvSwigluNormed(uint16_t* out, const uint16_t* residual, const float* norm, float eps, int64_t K,
                            const void* gate, const void* up, DType dtype, int64_t N, cudaStream_t stream) {
  if (N <= 0) return;
  if (K % 8 != 0 || K > kGemvNormedMaxWidth)
    throw InvalidArgumentError("internal: launchGemvSwigluNormed takes K % 8 == 0, K <= 16384");
  const NormedX xs{reinterpret_cast<const bf16*>(residual), norm, eps};
  byWeightType(dtype, "launchGemvSwigluNormed", [&](auto w) {  // one token: NormedX is compiled for TMAX 1 only
    using WT = decltype(w);
    launchSwigluTyped<WT, 1>(reinterpret_cast<bf16*>(out), N, xs, 1, K, static_cast<const WT*>(gate),
                             static_cast<const WT*>(up), N, stream);
  });
}

}  // namespace pagedinfer::cuda
