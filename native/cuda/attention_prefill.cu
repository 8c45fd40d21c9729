// Paged attention for prefill chunks (query length > 1), FlashAttention-2 style on tensor cores,
// causal over the cached prefix.
//
// A CTA takes one query tile of one sequence and one kv head: its 64 rows are (token, query head)
// pairs, 64 / group tokens x the group's heads, so a K/V tile loaded once serves the whole GQA
// group. Each of the 4 warps owns 16 rows: Q fragments stay in registers, S = Q K^T for a 64-key
// tile is 8 n-tiles of accumulators, the online softmax runs on them in registers, and P is reused
// as the A operand of O += P V. K/V tiles are double-buffered with cp.async. Row r sees key j iff
// j <= position(r); tiles past the tile's last position are never loaded.
#include <algorithm>
#include <string>

#include "attention_common.cuh"
#include "cuda_check.h"

namespace pagedinfer::cuda {

namespace {

constexpr int kWarps = 4, kThreads = 32 * kWarps, kRows = 64, kStages = 2;

template <int D>
constexpr size_t prefillSmemBytes() {
  return size_t(kRows + 2 * kStages * kKeysPerTile) * (D + 8) * sizeof(bf16);
}

template <int D>
__global__ void __launch_bounds__(kThreads) pagedPrefillKernel(AttentionArgs a, const int4* __restrict__ tiles, int group) {
  constexpr int LD = D + 8;
  extern __shared__ __align__(16) uint8_t smem[];
  bf16* sQ = reinterpret_cast<bf16*>(smem);
  bf16* sK = sQ + kRows * LD;
  bf16* sV = sK + kStages * kKeysPerTile * LD;
  __shared__ int rowPos[kRows];
  __shared__ int maxPos;

  const int4 tile = tiles[blockIdx.x];
  const int seq = tile.x, t0 = tile.y, numTok = tile.z - tile.y;
  const int kvh = blockIdx.y;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int32_t* table = a.blockTable + int64_t(seq) * a.tableStride;
  const bf16* q = reinterpret_cast<const bf16*>(a.q);

  if (tid == 0) maxPos = -1;
  __syncthreads();
  if (tid < kRows) {
    const int tok = tid / group;
    const int p = tok < numTok ? a.positions[t0 + tok] : -1;
    rowPos[tid] = p;
    atomicMax(&maxPos, p);
  }
  for (int i = tid; i < kRows * (D / 8); i += kThreads) {
    const int r = i / (D / 8), c = i % (D / 8), tok = r / group;
    const bool valid = tok < numTok;
    const bf16* src = valid ? q + int64_t(t0 + tok) * a.qStride + (kvh * group + r % group) * D + 8 * c : q;
    cpAsync16(sQ + r * LD + 8 * c, src, valid ? 16 : 0);
  }
  cpAsyncCommit();
  __syncthreads();
  const int ctxEnd = min(maxPos + 1, a.seqLens[seq]);
  const int numTiles = (ctxEnd + kKeysPerTile - 1) / kKeysPerTile;
  if (numTiles > 0) loadKvTile<D, kThreads>(sK, sV, LD, a.kv, table, kvh, 0, ctxEnd);
  cpAsyncCommit();
  cpAsyncWait<1>();  // Q landed
  __syncthreads();

  uint32_t qf[D / 16][4];
#pragma unroll
  for (int ks = 0; ks < D / 16; ks++) ldmatrixX4(qf[ks], sQ + (warp * 16 + lane % 16) * LD + ks * 16 + (lane / 16) * 8);
  const int g = lane / 4;
  const int posA = rowPos[warp * 16 + g], posB = rowPos[warp * 16 + g + 8];
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  const float scaleLog2 = a.scale * kLog2e;

  for (int kt = 0; kt < numTiles; kt++) {
    cpAsyncWait<0>();
    __syncthreads();  // tile kt landed; the other buffer is free
    if (kt + 1 < numTiles)
      loadKvTile<D, kThreads>(sK + ((kt + 1) % kStages) * kKeysPerTile * LD, sV + ((kt + 1) % kStages) * kKeysPerTile * LD,
                              LD, a.kv, table, kvh, (kt + 1) * kKeysPerTile, ctxEnd);
    cpAsyncCommit();
    const bf16* kT = sK + (kt % kStages) * kKeysPerTile * LD;
    const bf16* vT = sV + (kt % kStages) * kKeysPerTile * LD;

    float s[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++) {
#pragma unroll
      for (int jj = 0; jj < 4; jj++) {
        uint32_t b[4];
        ldmatrixX4(b, kT + (jj * 16 + lane % 8 + (lane / 16) * 8) * LD + ks * 16 + ((lane / 8) % 2) * 8);
        mmaBf16(s[2 * jj], qf[ks], b);
        mmaBf16(s[2 * jj + 1], qf[ks], b + 2);
      }
    }
    const int keyBase = kt * kKeysPerTile + 2 * (lane % 4);
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = keyBase + 8 * j + (e & 1);
        s[j][e] = key <= (e < 2 ? posA : posB) ? s[j][e] * scaleLog2 : -INFINITY;
      }
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float row[16];
#pragma unroll
      for (int j = 0; j < 8; j++) {
        row[2 * j] = s[j][2 * r];
        row[2 * j + 1] = s[j][2 * r + 1];
      }
      const float alpha = softmaxRowUpdate<16>(row, m[r], l[r]);
#pragma unroll
      for (int j = 0; j < 8; j++) {
        s[j][2 * r] = row[2 * j];
        s[j][2 * r + 1] = row[2 * j + 1];
      }
#pragma unroll
      for (int dn = 0; dn < D / 8; dn++) {
        o[dn][2 * r] *= alpha;
        o[dn][2 * r + 1] *= alpha;
      }
    }
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
      const uint32_t pa[4] = {packBf16x2(s[2 * kk][0], s[2 * kk][1]), packBf16x2(s[2 * kk][2], s[2 * kk][3]),
                              packBf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]), packBf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dk = 0; dk < D / 16; dk++) {
        uint32_t b[4];
        ldmatrixX4Trans(b, vT + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + dk * 16 + (lane / 16) * 8);
        mmaBf16(o[2 * dk], pa, b);
        mmaBf16(o[2 * dk + 1], pa, b + 2);
      }
    }
  }
  cpAsyncWait<0>();

#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int row = warp * 16 + g + 8 * r;
    const int tok = row / group;
    if (tok >= numTok || row >= (kRows / group) * group) continue;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
    bf16* dst = reinterpret_cast<bf16*>(a.out) + int64_t(t0 + tok) * a.outStride + (kvh * group + row % group) * D;
#pragma unroll
    for (int dn = 0; dn < D / 8; dn++)
      *reinterpret_cast<__nv_bfloat162*>(dst + dn * 8 + 2 * (lane % 4)) =
          __floats2bfloat162_rn(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
  }
}

template <int D>
void launchPrefill(const AttentionArgs& a, const int32_t* tiles, int numTiles, int group, cudaStream_t stream) {
  constexpr size_t smem = prefillSmemBytes<D>();
  static std::atomic<uint32_t> configured{0};
  allowDynamicSmem(pagedPrefillKernel<D>, smem, configured);
  pagedPrefillKernel<D><<<dim3(numTiles, a.kv.numKvHeads), kThreads, smem, stream>>>(
      a, reinterpret_cast<const int4*>(tiles), group);
  CUDA_CHECK_LAUNCH("pagedPrefill");
}

}  // namespace

bool prefillKernelSupports(int headDim, int group) {
  return (headDim == 64 || headDim == 80 || headDim == 96 || headDim == 128) && group >= 1 && group <= kRows;
}

void launchPagedPrefill(const AttentionArgs& a, const int32_t* tiles, int numTiles, cudaStream_t stream) {
  if (numTiles <= 0) return;
  const int group = a.numHeads / a.kv.numKvHeads;
  switch (a.kv.headDim) {
    case 64: launchPrefill<64>(a, tiles, numTiles, group, stream); break;
    case 80: launchPrefill<80>(a, tiles, numTiles, group, stream); break;
    case 96: launchPrefill<96>(a, tiles, numTiles, group, stream); break;
    case 128: launchPrefill<128>(a, tiles, numTiles, group, stream); break;
    default: throw InvalidArgumentError("pagedPrefill: unsupported head size " + std::to_string(a.kv.headDim));
  }
}

}  // namespace pagedinfer::cuda
