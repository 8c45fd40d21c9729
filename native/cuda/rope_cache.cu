// Rotary embedding of q and k fused with the KV-cache write, and the block copies of
// copy-on-write.
//
// Cache layout (chosen by this backend): per layer, K and V each [numBlocks][numKvHeads]
// [blockSize][headDim] bf16 ("HND"). One (block, kv head) is then blockSize * headDim contiguous
// values (4 KB for 16 x 128): the decode kernel streams a sequence's context for one kv head as
// contiguous 4 KB runs, shared by every query head of the GQA group, and the prefill kernel loads
// key tiles with 16-byte copies. A token's slot s lives in block s / blockSize, row s % blockSize.
#include <algorithm>

#include "cuda_check.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "pdl.cuh"

namespace pagedinfer::cuda {

namespace {

// cos and sin of pos * invFreq[j] into trig[j] and trig[half + j], taken in double (as the CPU
// backend and the reference do), the block's threads striding over j.
__device__ __forceinline__ void ropeAngles(float* trig, double pos, const float* invFreq, int half) {
  for (int j = threadIdx.x; j < half; j += blockDim.x) {
    double s, c;
    sincos(pos * double(invFreq[j]), &s, &c);
    trig[j] = float(c);
    trig[half + j] = float(s);
  }
}

// A block per token. The angles pos * invFreq[j] are taken in double (as the CPU backend and the
// reference do) once per token into shared memory, then every (head, pair) of q and k is rotated in
// place; after a barrier the rotated k row and the v row are copied into the token's cache slot.
__global__ void ropeCacheKernel(bf16* q, bf16* k, const bf16* __restrict__ v, int64_t qStride, int64_t kStride,
                                int64_t vStride, const int32_t* __restrict__ positions, const int32_t* __restrict__ slots,
                                const float* __restrict__ invFreq, int rotaryDim, bool neox, int numHeads, KvLayer kv) {
  extern __shared__ float trig[];  // cos[half], sin[half]
  // Chained (pdl.cuh): positions are step inputs, so the angles are ready before q and k are.
  pdlLaunchDependents();
  const int t = blockIdx.x, half = rotaryDim / 2, D = kv.headDim;
  const double pos = double(positions[t]);
  ropeAngles(trig, pos, invFreq, half);
  pdlWait();
  __syncthreads();
  bf16* qt = q + t * qStride;
  bf16* kt = k + t * kStride;
  const int pairs = (numHeads + kv.numKvHeads) * half;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const int h = i / half, j = i % half;
    bf16* head = h < numHeads ? qt + h * D : kt + (h - numHeads) * D;
    const int i0 = neox ? j : 2 * j, i1 = neox ? j + half : 2 * j + 1;
    const float x0 = __bfloat162float(head[i0]), x1 = __bfloat162float(head[i1]);
    const float c = trig[j], s = trig[half + j];
    head[i0] = __float2bfloat16_rn(x0 * c - x1 * s);
    head[i1] = __float2bfloat16_rn(x1 * c + x0 * s);
  }
  const int32_t slot = slots[t];
  if (slot < 0) return;
  __syncthreads();  // rotated k visible to the whole block
  const int64_t block = slot / kv.blockSize, offset = slot % kv.blockSize;
  const bf16* vt = v + t * vStride;
  const int kvDim = kv.numKvHeads * D;
  for (int i = threadIdx.x; i < kvDim; i += blockDim.x) {
    const int h = i / D, d = i % D;
    const int64_t dst = ((block * kv.numKvHeads + h) * kv.blockSize + offset) * D + d;
    reinterpret_cast<bf16*>(kv.k)[dst] = kt[i];
    reinterpret_cast<bf16*>(kv.v)[dst] = vt[i];
  }
}

// The same with 16-byte pieces, for head sizes and rotary widths that are multiples of 8 (16 for
// neox): one pass in which a thread owns a piece of a head (neox: the piece at j and its partner
// at j + rotaryDim / 2), rotates it and, for k, writes it and v's piece straight into the cache.
// At batch 1 this kernel is one block on the decode chain's critical path, so what matters is
// that every thread's loads go out at once (one piece each for the 8B shape's 40 heads).
template <bool NEOX>
__global__ void ropeCacheVecKernel(bf16* __restrict__ q, bf16* __restrict__ k, const bf16* __restrict__ v, int64_t qStride,
                                   int64_t kStride, int64_t vStride, const int32_t* __restrict__ positions,
                                   const int32_t* __restrict__ slots, const float* __restrict__ invFreq, int rotaryDim,
                                   int numHeads, KvLayer kv) {
  extern __shared__ float trig[];  // cos[half], sin[half]
  pdlLaunchDependents();           // chained; positions and slots are step inputs (see above)
  const int t = blockIdx.x, half = rotaryDim / 2, D = kv.headDim, pieces = D / 8;
  const double pos = double(positions[t]);
  const int32_t slot = slots[t];
  ropeAngles(trig, pos, invFreq, half);
  pdlWait();
  __syncthreads();
  const int64_t cacheRow = slot >= 0 ? ((int64_t(slot / kv.blockSize) * kv.numKvHeads) * kv.blockSize + slot % kv.blockSize) * D : 0;
  const int items = (numHeads + kv.numKvHeads) * pieces;
  for (int i = threadIdx.x; i < items; i += blockDim.x) {
    const int h = i / pieces, c = i % pieces, d0 = 8 * c;
    const bool isK = h >= numHeads;
    const int kh = h - numHeads;
    bf16* head = isK ? k + t * kStride + int64_t(kh) * D : q + t * qStride + int64_t(h) * D;
    // Cache element of (kv head kh, dimension d) for this token.
    auto cacheAt = [&](int d) { return cacheRow + int64_t(kh) * kv.blockSize * D + d; };
    auto toCache = [&](int d, uint4 kPiece) {
      if (!isK || slot < 0) return;
      reinterpret_cast<uint4*>(kv.k)[cacheAt(d) / 8] = kPiece;
      reinterpret_cast<uint4*>(kv.v)[cacheAt(d) / 8] = *reinterpret_cast<const uint4*>(v + t * vStride + int64_t(kh) * D + d);
    };
    if (d0 >= rotaryDim) {  // past the rotary part: unchanged
      if (isK && slot >= 0) toCache(d0, *reinterpret_cast<const uint4*>(head + d0));
      continue;
    }
    if constexpr (NEOX) {
      if (d0 >= half) continue;  // its partner's thread does it
      float x0[8], x1[8];
      unpackBf16x8(*reinterpret_cast<const uint4*>(head + d0), x0);
      unpackBf16x8(*reinterpret_cast<const uint4*>(head + d0 + half), x1);
      float y0[8], y1[8];
#pragma unroll
      for (int e = 0; e < 8; e++) {
        const float cs = trig[d0 + e], sn = trig[half + d0 + e];
        y0[e] = x0[e] * cs - x1[e] * sn;
        y1[e] = x1[e] * cs + x0[e] * sn;
      }
      const uint4 p0 = packBf16x8(y0), p1 = packBf16x8(y1);
      *reinterpret_cast<uint4*>(head + d0) = p0;
      *reinterpret_cast<uint4*>(head + d0 + half) = p1;
      toCache(d0, p0);
      toCache(d0 + half, p1);
    } else {
      float x[8];
      unpackBf16x8(*reinterpret_cast<const uint4*>(head + d0), x);
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const float cs = trig[d0 / 2 + e], sn = trig[half + d0 / 2 + e];
        const float a = x[2 * e], b = x[2 * e + 1];
        x[2 * e] = a * cs - b * sn;
        x[2 * e + 1] = b * cs + a * sn;
      }
      const uint4 p = packBf16x8(x);
      *reinterpret_cast<uint4*>(head + d0) = p;
      toCache(d0, p);
    }
  }
}

// grid (pairs, layers * 2): one (copy, layer, K-or-V) per block, 16-byte vectors.
__global__ void copyBlocksKernel(uint16_t* cache, const int32_t* __restrict__ pairs, int numBlocks, int64_t blockElems) {
  const int64_t src = pairs[2 * blockIdx.x], dst = pairs[2 * blockIdx.x + 1];
  uint16_t* base = cache + int64_t(blockIdx.y) * numBlocks * blockElems;  // this layer's K or V
  if (blockElems % 8 == 0) {
    const uint4* s = reinterpret_cast<const uint4*>(base + src * blockElems);
    uint4* d = reinterpret_cast<uint4*>(base + dst * blockElems);
    for (int64_t i = threadIdx.x; i < blockElems / 8; i += blockDim.x) d[i] = s[i];
  } else {
    for (int64_t i = threadIdx.x; i < blockElems; i += blockDim.x) base[dst * blockElems + i] = base[src * blockElems + i];
  }
}

}  // namespace

void launchRopeCacheWrite(uint16_t* q, uint16_t* k, const uint16_t* v, int64_t qStride, int64_t kStride, int64_t vStride,
                          const int32_t* positions, const int32_t* slots, int numTokens, const float* invFreq,
                          int rotaryDim, bool neox, int numHeads, const KvLayer& kv, cudaStream_t stream) {
  if (numTokens <= 0) return;
  const size_t smem = size_t(rotaryDim) * sizeof(float);
  const bool vec = kv.headDim % 8 == 0 && rotaryDim % 16 == 0 && qStride % 8 == 0 && kStride % 8 == 0 && vStride % 8 == 0;
  if (vec) {
    const int items = (numHeads + kv.numKvHeads) * (kv.headDim / 8);
    const dim3 block(unsigned(std::min(1024, (items + 31) / 32 * 32)));
    auto* kernel = neox ? ropeCacheVecKernel<true> : ropeCacheVecKernel<false>;
    launchChained("ropeCacheWrite", kernel, dim3(numTokens), block, smem, stream, reinterpret_cast<bf16*>(q),
                  reinterpret_cast<bf16*>(k), reinterpret_cast<const bf16*>(v), qStride, kStride, vStride, positions, slots,
                  invFreq, rotaryDim, numHeads, kv);
    return;
  }
  launchChained("ropeCacheWrite", ropeCacheKernel, dim3(numTokens), dim3(256), smem, stream, reinterpret_cast<bf16*>(q),
                reinterpret_cast<bf16*>(k), reinterpret_cast<const bf16*>(v), qStride, kStride, vStride, positions, slots,
                invFreq, rotaryDim, neox, numHeads, kv);
}

void launchCopyBlocks(uint16_t* cache, const int32_t* pairs, int numPairs, int numLayers, int numBlocks, int64_t blockElems,
                      cudaStream_t stream) {
  if (numPairs <= 0) return;
  copyBlocksKernel<<<dim3(numPairs, numLayers * 2), 256, 0, stream>>>(cache, pairs, numBlocks, blockElems);
  CUDA_CHECK_LAUNCH("copyBlocks");
}

}  // namespace pagedinfer::cuda
