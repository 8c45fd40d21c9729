// Rotary embedding on 16-byte pieces of a head, shared by the rope + cache-write kernel
// (rope_cache.cu) and the decode attention kernel, which rotates its decode tokens' q and k itself
// (attention_decode.cu). A head of D values is D / 8 pieces; with rotary width R (R % 16 == 0),
// neox pairs value j with j + R / 2 (so piece d0 < R / 2 goes with piece d0 + R / 2), normal pairs
// 2j with 2j + 1 (inside one piece); pieces from R on are not rotated.
#pragma once
#include "cuda_common.cuh"
#include "kernels.h"

namespace pagedinfer::cuda {

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

// What piece d0 of `head` becomes: n pieces (0: another piece's thread writes it; 1: `lo` at d0;
// 2: `lo` at d0 and `hi` at d0 + R / 2). Rounded to bf16 exactly as the scalar kernel rounds.
struct RopePieces {
  uint4 lo, hi;
  int n;
};
__device__ __forceinline__ RopePieces ropePiece(const bf16* head, int d0, int rotaryDim, bool neox, const float* trig) {
  const int half = rotaryDim / 2;
  RopePieces r;
  r.n = 1;
  if (d0 >= rotaryDim) {  // past the rotary part: unchanged
    r.lo = *reinterpret_cast<const uint4*>(head + d0);
    return r;
  }
  if (neox) {
    if (d0 >= half) {
      r.n = 0;
      return r;
    }
    float x0[8], x1[8], y0[8], y1[8];
    unpackBf16x8(*reinterpret_cast<const uint4*>(head + d0), x0);
    unpackBf16x8(*reinterpret_cast<const uint4*>(head + d0 + half), x1);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      const float cs = trig[d0 + e], sn = trig[half + d0 + e];
      y0[e] = x0[e] * cs - x1[e] * sn;
      y1[e] = x1[e] * cs + x0[e] * sn;
    }
    r.lo = packBf16x8(y0);
    r.hi = packBf16x8(y1);
    r.n = 2;
    return r;
  }
  float x[8];
  unpackBf16x8(*reinterpret_cast<const uint4*>(head + d0), x);
#pragma unroll
  for (int e = 0; e < 4; e++) {
    const float cs = trig[d0 / 2 + e], sn = trig[half + d0 / 2 + e];
    const float a = x[2 * e], b = x[2 * e + 1];
    x[2 * e] = a * cs - b * sn;
    x[2 * e + 1] = b * cs + a * sn;
  }
  r.lo = packBf16x8(x);
  return r;
}

// Writes what ropePiece gave for piece d0 into `head` (a row of D values: q or k in place, or a
// copy of one): lo at d0 and, for a neox pair, hi at d0 + R / 2; nothing when n is 0.
__device__ __forceinline__ void storeRopePieces(bf16* head, int d0, const RopePieces& p, int rotaryDim) {
  if (p.n > 0) *reinterpret_cast<uint4*>(head + d0) = p.lo;
  if (p.n == 2) *reinterpret_cast<uint4*>(head + d0 + rotaryDim / 2) = p.hi;
}

// Element offset of (kv head kh, dimension d) of cache slot `slot` in one layer's K or V.
__device__ __forceinline__ int64_t cacheOffset(const KvLayer& kv, int64_t slot, int kh, int d) {
  return ((slot / kv.blockSize * kv.numKvHeads + kh) * kv.blockSize + slot % kv.blockSize) * kv.headDim + d;
}

// A key piece as ropePiece gave it (p.n > 0), with the value pieces at the same places, into cache
// slot `slot` of kv head kh.
__device__ __forceinline__ void keyPieceToCache(const KvLayer& kv, int64_t slot, int kh, int d0, const RopePieces& p,
                                                const bf16* vHead, int rotaryDim) {
  uint4* kc = reinterpret_cast<uint4*>(kv.k);
  uint4* vc = reinterpret_cast<uint4*>(kv.v);
  kc[cacheOffset(kv, slot, kh, d0) / 8] = p.lo;
  vc[cacheOffset(kv, slot, kh, d0) / 8] = *reinterpret_cast<const uint4*>(vHead + d0);
  if (p.n == 2) {
    const int d1 = d0 + rotaryDim / 2;
    kc[cacheOffset(kv, slot, kh, d1) / 8] = p.hi;
    vc[cacheOffset(kv, slot, kh, d1) / 8] = *reinterpret_cast<const uint4*>(vHead + d1);
  }
}

}  // namespace pagedinfer::cuda
