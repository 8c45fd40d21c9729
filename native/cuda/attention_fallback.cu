// Paged attention for the shapes the tensor-core kernels do not take (head sizes other than
// 64/80/96/128, very large GQA groups): a warp per (token, query head) walks the token's context
// key by key with an online softmax, lanes owning head dimensions. Correct for any shape, and
// slow: it exists so that no model is refused, not to be fast.
#include "cuda_check.h"
#include "cuda_common.cuh"
#include "kernels.h"

namespace pagedinfer::cuda {

namespace {

constexpr int kMaxDimsPerLane = 8;  // head sizes up to 256

__global__ void pagedFallbackKernel(AttentionArgs a, const int32_t* __restrict__ tokens, int numTokens) {
  const int64_t w = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (w >= int64_t(numTokens) * a.numHeads) return;
  const int t = tokens[w / a.numHeads], h = int(w % a.numHeads);
  const int D = a.kv.headDim, group = a.numHeads / a.kv.numKvHeads, kvh = h / group;
  const int seq = a.tokenSeq[t];
  const int ctx = min(a.positions[t] + 1, a.seqLens[seq]);
  const int32_t* table = a.blockTable + int64_t(seq) * a.tableStride;
  const bf16* q = reinterpret_cast<const bf16*>(a.q) + t * a.qStride + h * D;
  const bf16* kc = reinterpret_cast<const bf16*>(a.kv.k);
  const bf16* vc = reinterpret_cast<const bf16*>(a.kv.v);
  float qv[kMaxDimsPerLane], acc[kMaxDimsPerLane];
#pragma unroll
  for (int i = 0; i < kMaxDimsPerLane; i++) {
    const int d = lane + 32 * i;
    qv[i] = d < D ? __bfloat162float(q[d]) * a.scale : 0.0f;
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int key = 0; key < ctx; key++) {
    const int64_t block = table[key / a.kv.blockSize];
    const int64_t base = ((block * a.kv.numKvHeads + kvh) * a.kv.blockSize + key % a.kv.blockSize) * D;
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxDimsPerLane; i++) {
      const int d = lane + 32 * i;
      if (d < D) dot += qv[i] * __bfloat162float(kc[base + d]);
    }
    dot = warpSum(dot);
    const float mNew = fmaxf(m, dot);
    const float alpha = __expf(m - mNew), p = __expf(dot - mNew);
    l = l * alpha + p;
#pragma unroll
    for (int i = 0; i < kMaxDimsPerLane; i++) {
      const int d = lane + 32 * i;
      acc[i] = acc[i] * alpha + (d < D ? p * __bfloat162float(vc[base + d]) : 0.0f);
    }
    m = mNew;
  }
  bf16* out = reinterpret_cast<bf16*>(a.out) + t * a.outStride + h * D;
#pragma unroll
  for (int i = 0; i < kMaxDimsPerLane; i++) {
    const int d = lane + 32 * i;
    if (d < D) out[d] = __float2bfloat16_rn(l > 0.0f ? acc[i] / l : 0.0f);
  }
}

}  // namespace

void launchPagedFallback(const AttentionArgs& a, const int32_t* tokens, int numTokens, cudaStream_t stream) {
  if (numTokens <= 0) return;
  if (a.kv.headDim > 32 * kMaxDimsPerLane)
    throw InvalidArgumentError("paged attention: head size " + std::to_string(a.kv.headDim) + " is above 256");
  const int64_t warps = int64_t(numTokens) * a.numHeads;
  pagedFallbackKernel<<<unsigned((warps + 7) / 8), 256, 0, stream>>>(a, tokens, numTokens);
  CUDA_CHECK_LAUNCH("pagedFallback");
}

}  // namespace pagedinfer::cuda
