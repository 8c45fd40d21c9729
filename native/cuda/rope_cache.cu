// Rotary embedding of q and k fused with the KV-cache write, and the block copies of
// copy-on-write.
//
// Cache layout (chosen by this backend): per layer, K and V each [numBlocks][numKvHeads]
// [blockSize][headDim] bf16 ("HND"). One (block, kv head) is then blockSize * headDim contiguous
// values (4 KB for 16 x 128): the decode kernel streams a sequence's context for one kv head as
// contiguous 4 KB runs, shared by every query head of the GQA group, and the prefill kernel loads
// key tiles with 16-byte copies. A token's slot s lives in block s / blockSize, row s % blockSize.
#include "cuda_check.h"
#include "cuda_common.cuh"
#include "kernels.h"
#include "pdl.cuh"

namespace pagedinfer::cuda {

namespace {

// A block per token. The angles pos * invFreq[j] are taken in double (as the CPU backend and the
// reference do) once per token into shared memory, then every (head, pair) of q and k is rotated in
// place; after a barrier the rotated k row and the v row are copied into the token's cache slot.
__global__ void ropeCacheKernel(bf16* q, bf16* k, const bf16* __restrict__ v, int64_t qStride, int64_t kStride,
                                int64_t vStride, const int32_t* __restrict__ positions, const int32_t* __restrict__ slots,
                                const float* __restrict__ invFreq, int rotaryDim, bool neox, int numHeads, KvLayer kv) {
  extern __shared__ float trig[];  // cos[half], sin[half]
  pdlLaunchDependents();  // chained (pdl.cuh)
  pdlWait();
  const int t = blockIdx.x, half = rotaryDim / 2, D = kv.headDim;
  const double pos = double(positions[t]);
  for (int j = threadIdx.x; j < half; j += blockDim.x) {
    double s, c;
    sincos(pos * double(invFreq[j]), &s, &c);
    trig[j] = float(c);
    trig[half + j] = float(s);
  }
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
