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
#include "rope_device.cuh"

namespace pagedinfer::cuda {

namespace {

// A block per token. The angles pos * invFreq[j] are taken in double (as the CPU backend and the
// reference do) once per token into shared memory, then every (head, pair) of q and k is rotated in
// place; after a barrier the rotated k row and the v row are copied into the token's cache slot.
__global__ void ropeCacheKernel(bf16* q, bf16* k, const bf16* __restrict__ v, int64_t qStride, int64_t kStride,
                                int64_t vStride, const int32_t* __restrict__ positions, const int32_t* __restrict__ slots,
                                const int32_t* __restrict__ tokenList, const float* __restrict__ invFreq, int rotaryDim,
                                bool neox, int numHeads, KvLayer kv) {
  extern __shared__ float trig[];  // cos[half], sin[half]
  // Chained (pdl.cuh): positions are step inputs, so the angles are ready before q and k are.
  pdlLaunchDependents();
  const int t = tokenList ? tokenList[blockIdx.x] : blockIdx.x, half = rotaryDim / 2, D = kv.headDim;
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

// The same with 16-byte pieces (rope_device.cuh), for head sizes that are multiples of 8 and rotary
// widths that are multiples of 16: one pass in which a thread owns a piece of a head (neox: the piece at j and its partner
// at j + rotaryDim / 2), rotates it and, for k, writes it and v's piece straight into the cache.
// At batch 1 this kernel is one block on the decode chain's critical path, so what matters is
// that every thread's loads go out at once (one piece each for the 8B shape's 40 heads).
__global__ void ropeCacheVecKernel(bf16* __restrict__ q, bf16* __restrict__ k, const bf16* __restrict__ v, int64_t qStride,
                                   int64_t kStride, int64_t vStride, const int32_t* __restrict__ positions,
                                   const int32_t* __restrict__ slots, const int32_t* __restrict__ tokenList,
                                   const float* __restrict__ invFreq, int rotaryDim, bool neox, int numHeads, KvLayer kv) {
  extern __shared__ float trig[];  // cos[half], sin[half]
  pdlLaunchDependents();           // chained; positions, slots and the list are step inputs (see above)
  const int t = tokenList ? tokenList[blockIdx.x] : blockIdx.x, D = kv.headDim, pieces = D / 8;
  const double pos = double(positions[t]);
  const int32_t slot = slots[t];
  ropeAngles(trig, pos, invFreq, rotaryDim / 2);
  pdlWait();
  __syncthreads();
  const int items = (numHeads + kv.numKvHeads) * pieces;
  for (int i = threadIdx.x; i < items; i += blockDim.x) {
    const int h = i / pieces, d0 = 8 * (i % pieces);
    if (h >= numHeads) {  // k: rotated in place and, with v, into the cache
      const int kh = h - numHeads;
      bf16* head = k + t * kStride + int64_t(kh) * D;
      const RopePieces p = ropePiece(head, d0, rotaryDim, neox, trig);
      if (p.n == 0) continue;
      if (slot >= 0) keyPieceToCache(kv, slot, kh, d0, p, v + t * vStride + int64_t(kh) * D, rotaryDim);
      if (d0 < rotaryDim) storeRopePieces(head, d0, p, rotaryDim);
      continue;
    }
    bf16* head = q + t * qStride + int64_t(h) * D;
    const RopePieces p = ropePiece(head, d0, rotaryDim, neox, trig);
    if (d0 < rotaryDim) storeRopePieces(head, d0, p, rotaryDim);  // unrotated pieces stay as they are
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

bool ropeVectorized(int headDim, int rotaryDim, int64_t qStride, int64_t kStride, int64_t vStride) {
  return headDim % 8 == 0 && rotaryDim % 16 == 0 && qStride % 8 == 0 && kStride % 8 == 0 && vStride % 8 == 0;
}

void launchRopeCacheWrite(uint16_t* q, uint16_t* k, const uint16_t* v, int64_t qStride, int64_t kStride, int64_t vStride,
                          const int32_t* positions, const int32_t* slots, const int32_t* tokenList, int numTokens,
                          const float* invFreq, int rotaryDim, bool neox, int numHeads, const KvLayer& kv,
                          cudaStream_t stream) {
  if (numTokens <= 0) return;
  const size_t smem = size_t(rotaryDim) * sizeof(float);
  if (ropeVectorized(kv.headDim, rotaryDim, qStride, kStride, vStride)) {
    const int items = (numHeads + kv.numKvHeads) * (kv.headDim / 8);
    const dim3 block(unsigned(std::min(1024, (items + 31) / 32 * 32)));
    launchChained("ropeCacheWrite", ropeCacheVecKernel, dim3(numTokens), block, smem, stream, reinterpret_cast<bf16*>(q),
                  reinterpret_cast<bf16*>(k), reinterpret_cast<const bf16*>(v), qStride, kStride, vStride, positions, slots,
                  tokenList, invFreq, rotaryDim, neox, numHeads, kv);
    return;
  }
  launchChained("ropeCacheWrite", ropeCacheKernel, dim3(numTokens), dim3(256), smem, stream, reinterpret_cast<bf16*>(q),
                reinterpret_cast<bf16*>(k), reinterpret_cast<const bf16*>(v), qStride, kStride, vStride, positions, slots,
                tokenList, invFreq, rotaryDim, neox, numHeads, kv);
}

void launchCopyBlocks(uint16_t* cache, const int32_t* pairs, int numPairs, int numLayers, int numBlocks, int64_t blockElems,
                      cudaStream_t stream) {
  if (numPairs <= 0) return;
  copyBlocksKernel<<<dim3(numPairs, numLayers * 2), 256, 0, stream>>>(cache, pairs, numBlocks, blockElems);
  CUDA_CHECK_LAUNCH("copyBlocks");
}

}  // namespace pagedinfer::cuda
