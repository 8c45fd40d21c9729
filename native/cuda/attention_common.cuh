// Pieces shared by the tensor-core attention kernels (attention_decode.cu, attention_prefill.cu):
// the paged key/value tile loader and the mma.sync m16n8k16 fragment bookkeeping.
//
// Fragment layout (PTX ISA, m16n8k16 with f32 accumulators): a thread (lane = 4g + c) holds
// accumulator elements (row g, cols 2c, 2c+1) in d[0..1] and (row g+8, same cols) in d[2..3].
// The S = Q K^T accumulators of two adjacent 8-key n-tiles are therefore exactly the A operand of
// the next product P V (FlashAttention-2's register reuse): no shared-memory round trip for P.
// Scores are kept in the log2 domain (scaled by scale * log2 e) so exp2f is a single MUFU op.
#pragma once
#include "cuda_common.cuh"
#include "kernels.h"

namespace pagedinfer::cuda {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kKeysPerTile = 64;

// Copies keys [key0, key0 + KEYS) of one kv head (zero rows at and past `end`) into sK / sV, rows
// of `ld` elements, with 16-byte cp.async. Threads stride over (row, 16-byte chunk).
template <int D, int THREADS, int KEYS = kKeysPerTile, bool PREFETCH = false>
__device__ __forceinline__ void loadKvTile(bf16* sK, bf16* sV, int ld, const KvLayer& kv, const int32_t* table, int kvh,
                                           int key0, int end) {
  constexpr int kChunks = D / 8;
  const bf16* kBase = reinterpret_cast<const bf16*>(kv.k);
  const bf16* vBase = reinterpret_cast<const bf16*>(kv.v);
#pragma unroll 4
  for (int i = threadIdx.x; i < KEYS * kChunks; i += THREADS) {
    const int r = i / kChunks, c = i % kChunks;
    const int key = key0 + r;
    const bool valid = key < end;
    int64_t off = 0;
    if (valid) {
      const int64_t block = table[key / kv.blockSize];
      off = ((block * kv.numKvHeads + kvh) * kv.blockSize + key % kv.blockSize) * D + 8 * c;
    }
    if constexpr (PREFETCH) {
      cpAsync16Prefetch(sK + r * ld + 8 * c, kBase + off, valid ? 16 : 0);
      cpAsync16Prefetch(sV + r * ld + 8 * c, vBase + off, valid ? 16 : 0);
    } else {
      cpAsync16(sK + r * ld + 8 * c, kBase + off, valid ? 16 : 0);
      cpAsync16(sV + r * ld + 8 * c, vBase + off, valid ? 16 : 0);
    }
  }
}

// Online-softmax update of one accumulator row held by a quad of lanes: `s` are this thread's
// scores of the row (already scaled, masked ones -inf); returns the factor the old O and l are
// multiplied by and turns s into probabilities.
template <int N>
__device__ __forceinline__ float softmaxRowUpdate(float* s, float& m, float& l) {
  float mx = s[0];
#pragma unroll
  for (int i = 1; i < N; i++) mx = fmaxf(mx, s[i]);
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
  const float mNew = fmaxf(m, mx);
  const float ref = mNew == -INFINITY ? 0.0f : mNew;  // a row with nothing visible yet stays at 0
  const float alpha = exp2f(m - ref);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < N; i++) {
    s[i] = exp2f(s[i] - ref);
    sum += s[i];
  }
  l = l * alpha + sum;
  m = mNew;
  return alpha;
}

}  // namespace pagedinfer::cuda
