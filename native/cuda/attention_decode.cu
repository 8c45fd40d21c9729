// Paged attention for decode tokens, flash-decoding style, on tensor cores.
//
// Work item = (query token, kv head, context partition); grid (parts, kvHeads, items). The rows of
// the 16-row mma tile are the GQA group's query heads (group <= 16; rows past the group are zero),
// so each key/value element read from HBM serves every query head that shares it: the kernel is
// bound by the K/V bytes, which is the point. Four warps split each 64-key tile (16 keys each,
// own online softmax), keys stream through a 3-stage cp.async pipeline (two tiles in flight while
// one is computed), and the warps are merged through shared memory at the end. With several
// partitions each writes (O unnormalised, m, l) to `partials`, and the last of them to finish
// (an arrival counter per item and kv head) combines them. Keys past the context are zero-filled
// and masked; a partition wholly past it exits at once.
#include <algorithm>
#include <atomic>
#include <string>

#include "attention_common.cuh"
#include "cuda_check.h"
#include "pdl.cuh"
#include "rope_device.cuh"

namespace pagedinfer::cuda {

namespace {

// Variants (warps per CTA, pipeline stages): a tile is 16 keys per warp. Fewer warps and stages
// mean less shared memory and more CTAs per SM; more mean more bytes in flight per CTA. The
// default was chosen by measurement (docs/cuda-kernels.md).
struct Variant {
  int warps, stages;
  bool prefetch;  // cp.async with an L2 prefetch of 256 bytes
};
constexpr Variant kVariants[] = {{4, 3, false}, {2, 3, false}, {2, 4, false}, {4, 2, false}, {2, 3, true}, {4, 3, true}};
constexpr int kNumVariants = sizeof(kVariants) / sizeof(kVariants[0]);

template <int D, int WARPS, int STAGES>
constexpr size_t decodeSmemBytes() {
  return size_t(16 + 2 * STAGES * 16 * WARPS) * (D + 8) * sizeof(bf16);
}

template <int D, int WARPS, int STAGES, bool PREFETCH>
__global__ void __launch_bounds__(32 * WARPS) pagedDecodeKernel(AttentionArgs a, DecodeItems items,
                                                                int group, int numParts, int partitionSize,
                                                                float* __restrict__ partials, int* __restrict__ arrivals,
                                                                int numItems, DecodeRope rope) {
  constexpr int kWarps = WARPS, kThreads = 32 * WARPS, kStages = STAGES, kKeysPerTile = 16 * WARPS;
  constexpr int LD = D + 8;  // padded rows: ldmatrix reads 8 rows at one column conflict-free
  extern __shared__ __align__(16) uint8_t smem[];
  bf16* sQ = reinterpret_cast<bf16*>(smem);
  bf16* sK = sQ + 16 * LD;
  bf16* sV = sK + kStages * kKeysPerTile * LD;

  // Chained (pdl.cuh) after the kernel that wrote q, k and v (the rope kernel, or with `rope` the
  // q/k/v projection). The step's index arrays and the older keys were written before the step's
  // first kernel began, so they are read (and the first tiles requested) before waiting for it.
  pdlLaunchDependents();
  const int item = blockIdx.z, kvh = blockIdx.y, part = blockIdx.x;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int t = items.tokens[item], seq = items.seqs[item], ctx = items.contexts[item];
  // partitionSize 0: this item's own partition, the smallest multiple of 64 keys that covers its
  // context in numParts partitions (a graph's grid is sized for the widest table it may see; a
  // short context still gets 64-key partitions and leaves the rest of the grid idle).
  const int partition = partitionSize > 0 ? partitionSize : max(64, (ctx + 64 * numParts - 1) / (64 * numParts) * 64);
  const int start = part * partition;
  // With `rope`, this kernel rotates the token's q as it loads it, and the CTA of the last
  // partition rotates the token's key of its kv head and writes it and the value into the cache
  // before it reads that tile (rope_device.cuh; no rope kernel for decode tokens).
  __shared__ float sTrig[D];  // cos, sin of the token's angles (rotaryDim <= D values)
  const bool fuseRope = rope.k != nullptr;
  const int32_t slot = fuseRope ? rope.slots[t] : -1;
  const bool padding = ctx <= 0 && part == 0;  // a padding token of a graph bucket (or a context of 0)
  if (fuseRope && (start < ctx || (padding && slot >= 0))) {
    ropeAngles(sTrig, double(a.positions[t]), rope.invFreq, rope.rotaryDim / 2);
    __syncthreads();
  }
  const bf16* kHead = fuseRope ? reinterpret_cast<const bf16*>(rope.k) + t * rope.kStride + int64_t(kvh) * D : nullptr;
  const bf16* vHead = fuseRope ? reinterpret_cast<const bf16*>(rope.v) + t * rope.vStride + int64_t(kvh) * D : nullptr;
  auto keyToCache = [&] {
    for (int d0 = 8 * tid; d0 < D; d0 += 8 * kThreads) {
      const RopePieces p = ropePiece(kHead, d0, rope.rotaryDim, rope.neox, sTrig);
      if (p.n > 0) keyPieceToCache(a.kv, slot, kvh, d0, p, vHead, rope.rotaryDim);
    }
  };
  if (start >= ctx) {
    pdlWait();
    if (padding) {  // zeros out; a real token's key still goes to its slot
      for (int i = tid; i < group * D; i += kThreads)
        reinterpret_cast<bf16*>(a.out)[t * a.outStride + (kvh * group) * D + i] = __float2bfloat16_rn(0.0f);
      if (fuseRope && slot >= 0) keyToCache();
    }
    return;
  }
  const int end = min(ctx, start + partition);
  const int numTiles = (end - start + kKeysPerTile - 1) / kKeysPerTile;
  const int32_t* table = a.blockTable + int64_t(seq) * a.tableStride;

  // Prologue tiles that end before key ctx - 1 (this token's, written this step) go out before the
  // wait; the rest after it. Either way kStages - 1 groups are committed, in order.
  const int early = min(min(kStages - 1, numTiles), (ctx - 1 - start) / kKeysPerTile);
#pragma unroll
  for (int s = 0; s < kStages - 1; s++) {
    if (s < early) {
      loadKvTile<D, kThreads, kKeysPerTile, PREFETCH>(sK + s * kKeysPerTile * LD, sV + s * kKeysPerTile * LD, LD, a.kv, table, kvh,
                                                      start + s * kKeysPerTile, end);
      cpAsyncCommit();
    }
  }
  pdlWait();
  if (fuseRope && slot >= 0 && part == (ctx - 1) / partition) {
    keyToCache();
    __syncthreads();  // the slot written before any thread of this CTA copies its tile
  }
#pragma unroll
  for (int s = 0; s < kStages - 1; s++) {  // the deferred tiles first: their loads then overlap q's
    if (s >= early) {
      if (s < numTiles)
        loadKvTile<D, kThreads, kKeysPerTile, PREFETCH>(sK + s * kKeysPerTile * LD, sV + s * kKeysPerTile * LD, LD, a.kv, table, kvh,
                                                        start + s * kKeysPerTile, end);
      cpAsyncCommit();
    }
  }
  for (int i = tid; i < 16 * (D / 8); i += kThreads) {
    const int r = i / (D / 8), d0 = 8 * (i % (D / 8));
    bf16* row = sQ + r * LD;
    if (r >= group) {
      *reinterpret_cast<uint4*>(row + d0) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const bf16* qHead = reinterpret_cast<const bf16*>(a.q) + t * a.qStride + (kvh * group + r) * D;
    if (!fuseRope) {
      *reinterpret_cast<uint4*>(row + d0) = *reinterpret_cast<const uint4*>(qHead + d0);
      continue;
    }
    storeRopePieces(row, d0, ropePiece(qHead, d0, rope.rotaryDim, rope.neox, sTrig), rope.rotaryDim);
  }
  __syncthreads();
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int ks = 0; ks < D / 16; ks++) ldmatrixX4(qf[ks], sQ + (lane % 16) * LD + ks * 16 + (lane / 16) * 8);

  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  const float scaleLog2 = a.scale * kLog2e;

  for (int tile = 0; tile < numTiles; tile++) {
    cpAsyncWait<kStages - 2>();
    __syncthreads();  // tile `tile` landed for everyone; everyone is done with tile - 1's buffer
    const int next = tile + kStages - 1;
    if (next < numTiles)
      loadKvTile<D, kThreads, kKeysPerTile, PREFETCH>(sK + (next % kStages) * kKeysPerTile * LD,
                                            sV + (next % kStages) * kKeysPerTile * LD, LD, a.kv, table, kvh,
                                            start + next * kKeysPerTile, end);
    cpAsyncCommit();

    const bf16* kT = sK + ((tile % kStages) * kKeysPerTile + warp * 16) * LD;
    const bf16* vT = sV + ((tile % kStages) * kKeysPerTile + warp * 16) * LD;
    float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++) {
      uint32_t b[4];
      ldmatrixX4(b, kT + (lane % 8 + (lane / 16) * 8) * LD + ks * 16 + ((lane / 8) % 2) * 8);
      mmaBf16(s[0], qf[ks], b);
      mmaBf16(s[1], qf[ks], b + 2);
    }
    const int keyBase = start + tile * kKeysPerTile + warp * 16 + 2 * (lane % 4);
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[j][e] = keyBase + 8 * j + (e & 1) < end ? s[j][e] * scaleLog2 : -INFINITY;
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float row[4] = {s[0][2 * r], s[0][2 * r + 1], s[1][2 * r], s[1][2 * r + 1]};
      const float alpha = softmaxRowUpdate<4>(row, m[r], l[r]);
      s[0][2 * r] = row[0];
      s[0][2 * r + 1] = row[1];
      s[1][2 * r] = row[2];
      s[1][2 * r + 1] = row[3];
#pragma unroll
      for (int dn = 0; dn < D / 8; dn++) {
        o[dn][2 * r] *= alpha;
        o[dn][2 * r + 1] *= alpha;
      }
    }
    const uint32_t pa[4] = {packBf16x2(s[0][0], s[0][1]), packBf16x2(s[0][2], s[0][3]), packBf16x2(s[1][0], s[1][1]),
                            packBf16x2(s[1][2], s[1][3])};
#pragma unroll
    for (int dk = 0; dk < D / 16; dk++) {
      uint32_t b[4];
      ldmatrixX4Trans(b, vT + (lane % 8 + ((lane / 8) % 2) * 8) * LD + dk * 16 + (lane / 16) * 8);
      mmaBf16(o[2 * dk], pa, b);
      mmaBf16(o[2 * dk + 1], pa, b + 2);
    }
  }
  cpAsyncWait<0>();
  __syncthreads();  // the stage buffers become the merge area

#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  float* sO = reinterpret_cast<float*>(smem);  // [warps][16][D]
  float* sM = sO + kWarps * 16 * D;
  float* sL = sM + kWarps * 16;
  const int g = lane / 4;
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++)
#pragma unroll
    for (int e = 0; e < 4; e++) sO[(warp * 16 + g + (e >> 1) * 8) * D + dn * 8 + 2 * (lane % 4) + (e & 1)] = o[dn][e];
  if (lane % 4 == 0) {
    sM[warp * 16 + g] = m[0];
    sM[warp * 16 + g + 8] = m[1];
    sL[warp * 16 + g] = l[0];
    sL[warp * 16 + g + 8] = l[1];
  }
  __syncthreads();
  for (int i = tid; i < group * D; i += kThreads) {
    const int r = i / D, d = i % D;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; w++) M = fmaxf(M, sM[w * 16 + r]);
    float L = 0.0f, O = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; w++) {
      const float f = sM[w * 16 + r] == -INFINITY ? 0.0f : exp2f(sM[w * 16 + r] - M);
      L += sL[w * 16 + r] * f;
      O += sO[(w * 16 + r) * D + d] * f;
    }
    const int head = kvh * group + r;
    if (numParts == 1) {
      reinterpret_cast<bf16*>(a.out)[t * a.outStride + head * D + d] = __float2bfloat16_rn(L > 0.0f ? O / L : 0.0f);
    } else {
      const int64_t idx = (int64_t(item) * a.numHeads + head) * numParts + part;
      partials[idx * D + d] = O;
      if (d == 0) {
        float* ml = partials + int64_t(numItems) * a.numHeads * numParts * D;
        ml[2 * idx] = M;
        ml[2 * idx + 1] = L;
      }
    }
  }
  if (numParts == 1) return;

  // The last partition of (item, kv head) to finish combines them all: no second kernel (and no
  // second wait between kernels) on the decode chain. Its arrival counter goes back to zero.
  __shared__ bool last;
  __threadfence();  // this CTA's partials before its arrival
  __syncthreads();
  const int parts = min(numParts, (ctx + partition - 1) / partition);
  int* arrival = arrivals + int64_t(item) * a.kv.numKvHeads + kvh;
  if (tid == 0) {
    last = atomicAdd(arrival, 1) == parts - 1;
    if (last) *arrival = 0;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();  // the other partitions' partials after their arrivals
  // Latency, not bandwidth, is what this costs on a batch-1 chain: every load below is issued
  // before its value is needed. First each (head, partition)'s weight 2^(m - M) and 1 / L, in
  // shared memory (the stage buffers are free); then the partial outputs, four floats per load.
  const float* ml = partials + int64_t(numItems) * a.numHeads * numParts * D;
  const int64_t base = (int64_t(item) * a.numHeads + kvh * group) * numParts;  // (head, part) index of row 0, part 0
  float* sW = reinterpret_cast<float*>(smem);  // [group][parts] weights, then [group] 1 / L
  float* sInvL = sW + group * parts;
  constexpr int kSmemFloats = int(decodeSmemBytes<D, WARPS, STAGES>() / sizeof(float));
  if (group * (parts + 1) > kSmemFloats) {
    for (int i = tid; i < group * D; i += kThreads) {  // too many partitions to stage: the plain loop
      const int r = i / D, d = i % D;
      const int64_t row = base + int64_t(r) * numParts;
      float M = -INFINITY, L = 0.0f, O = 0.0f;
      for (int p = 0; p < parts; p++) M = fmaxf(M, __ldcg(ml + 2 * (row + p)));
      for (int p = 0; p < parts; p++) {
        const float f = exp2f(__ldcg(ml + 2 * (row + p)) - M);
        L += __ldcg(ml + 2 * (row + p) + 1) * f;
        O += __ldcg(partials + (row + p) * D + d) * f;
      }
      reinterpret_cast<bf16*>(a.out)[t * a.outStride + (kvh * group + r) * D + d] = __float2bfloat16_rn(L > 0.0f ? O / L : 0.0f);
    }
    return;
  }
  for (int i = tid; i < group * parts; i += kThreads) sW[i] = __ldcg(ml + 2 * (base + int64_t(i / parts) * numParts + i % parts));
  __syncthreads();
  for (int r = warp; r < group; r += kWarps) {  // a warp per head: max, weights, sum of l
    float M = -INFINITY;
    for (int p = lane; p < parts; p += 32) M = fmaxf(M, sW[r * parts + p]);
    M = warpMax(M);
    float L = 0.0f;
    for (int p = lane; p < parts; p += 32) {
      const float f = exp2f(sW[r * parts + p] - M);
      L += __ldcg(ml + 2 * (base + int64_t(r) * numParts + p) + 1) * f;
      sW[r * parts + p] = f;
    }
    L = warpSum(L);
    if (lane == 0) sInvL[r] = L > 0.0f ? 1.0f / L : 0.0f;
  }
  __syncthreads();
  constexpr int kUnroll = 8;
  for (int i = tid; i < group * (D / 4); i += kThreads) {
    const int r = i / (D / 4), d4 = i % (D / 4);
    const float4* src = reinterpret_cast<const float4*>(partials + (base + int64_t(r) * numParts) * D) + d4;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int p0 = 0; p0 < parts; p0 += kUnroll) {
      float4 v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; u++)
        if (p0 + u < parts) v[u] = __ldcg(src + int64_t(p0 + u) * (D / 4));
#pragma unroll
      for (int u = 0; u < kUnroll; u++)
        if (p0 + u < parts) {
          const float f = sW[r * parts + p0 + u];
          acc.x += v[u].x * f, acc.y += v[u].y * f, acc.z += v[u].z * f, acc.w += v[u].w * f;
        }
    }
    const float inv = sInvL[r];
    bf16* o = reinterpret_cast<bf16*>(a.out) + t * a.outStride + (kvh * group + r) * D + 4 * d4;
    *reinterpret_cast<uint2*>(o) = make_uint2(packBf16x2(acc.x * inv, acc.y * inv), packBf16x2(acc.z * inv, acc.w * inv));
  }
}

template <int D, int WARPS, int STAGES, bool PREFETCH>
void launchDecodeVariant(const AttentionArgs& a, const DecodeItems& items, int numItems, int group, int numParts,
                         int partitionSize, float* partials, int* arrivals, const DecodeRope& rope,
                         cudaStream_t stream) {
  constexpr size_t smem = decodeSmemBytes<D, WARPS, STAGES>();
  static std::atomic<uint32_t> configured{0};
  allowDynamicSmem(pagedDecodeKernel<D, WARPS, STAGES, PREFETCH>, smem, configured);
  for (int first = 0; first < numItems; first += 65535) {
    const int n = std::min(65535, numItems - first);
    launchChained("pagedDecode", pagedDecodeKernel<D, WARPS, STAGES, PREFETCH>, dim3(numParts, a.kv.numKvHeads, n),
                  dim3(32 * WARPS), smem, stream, a,
                  DecodeItems{items.tokens + first, items.seqs + first, items.contexts + first}, group, numParts,
                  partitionSize, partials, arrivals, n, rope);
  }
}

template <int D, int WARPS, int STAGES, bool PREFETCH>
int slotsPerSm() {
  int blocks = 0;
  constexpr size_t smem = decodeSmemBytes<D, WARPS, STAGES>();
  static std::atomic<uint32_t> configured{0};
  allowDynamicSmem(pagedDecodeKernel<D, WARPS, STAGES, PREFETCH>, smem, configured);
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, pagedDecodeKernel<D, WARPS, STAGES, PREFETCH>, 32 * WARPS, smem));
  return blocks;
}

template <int D>
void launchDecode(const AttentionArgs& a, const DecodeItems& items, int numItems, int group, int numParts, int partitionSize,
                  float* partials, int* arrivals, int variant, const DecodeRope& rope, cudaStream_t stream) {
  switch (variant) {
    case 1: launchDecodeVariant<D, 2, 3, false>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, rope, stream); break;
    case 2: launchDecodeVariant<D, 2, 4, false>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, rope, stream); break;
    case 3: launchDecodeVariant<D, 4, 2, false>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, rope, stream); break;
    case 4: launchDecodeVariant<D, 2, 3, true>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, rope, stream); break;
    case 5: launchDecodeVariant<D, 4, 3, true>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, rope, stream); break;
    default: launchDecodeVariant<D, 4, 3, false>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, rope, stream); break;
  }
}

template <int D>
int decodeSlots(int variant) {
  switch (variant) {
    case 1: return slotsPerSm<D, 2, 3, false>();
    case 2: return slotsPerSm<D, 2, 4, false>();
    case 3: return slotsPerSm<D, 4, 2, false>();
    case 4: return slotsPerSm<D, 2, 3, true>();
    case 5: return slotsPerSm<D, 4, 3, true>();
    default: return slotsPerSm<D, 4, 3, false>();
  }
}

}  // namespace

bool decodeKernelSupports(int headDim, int group) {
  return (headDim == 64 || headDim == 80 || headDim == 96 || headDim == 128) && group >= 1 && group <= 16;
}

int decodeCtasPerSm(int headDim, int variant) {
  switch (headDim) {
    case 64: return decodeSlots<64>(variant);
    case 80: return decodeSlots<80>(variant);
    case 96: return decodeSlots<96>(variant);
    case 128: return decodeSlots<128>(variant);
    default: return 1;
  }
}

int decodeKeysPerTile(int variant) { return 16 * kVariants[variant >= 0 && variant < kNumVariants ? variant : 0].warps; }
int decodeVariantCount() { return kNumVariants; }

void launchPagedDecode(const AttentionArgs& a, const DecodeItems& items, int numItems, int numParts, int partitionSize,
                       float* partials, int* arrivals, int variant, const DecodeRope& rope, cudaStream_t stream) {
  if (numItems <= 0) return;
  const int group = a.numHeads / a.kv.numKvHeads;
  switch (a.kv.headDim) {
    case 64: launchDecode<64>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, variant, rope, stream); break;
    case 80: launchDecode<80>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, variant, rope, stream); break;
    case 96: launchDecode<96>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, variant, rope, stream); break;
    case 128: launchDecode<128>(a, items, numItems, group, numParts, partitionSize, partials, arrivals, variant, rope, stream); break;
    default: throw InvalidArgumentError("pagedDecode: unsupported head size " + std::to_string(a.kv.headDim));
  }
}

}  // namespace pagedinfer::cuda
