// Dequantization of one 32-element group of a weight row, for every storage type, on the device.
// Every type splits a row into groups of 32 consecutive elements (Q4_K/Q5_K sub-blocks, a quarter
// of a Q6_K half-block), so embedding, the generic GEMV and the dequantize-then-GEMM path share
// this one function. Layouts are GGUF's (core/quant.h), except Q8_0, which the backend repacks
// on upload to [K int8 quants][K/32 half scales] per row (same row size) so that the fast GEMV
// reads quants with 16-byte loads.
#pragma once
#include <cstdint>

#include "cuda_common.cuh"

namespace pagedinfer::cuda {

enum : int { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kBF16 = 30 };

// The 6-bit (scale, min) pair j of a K-quant super-block's 12 packed bytes (core/quant.h).
__device__ __forceinline__ void kScaleMin(int j, const uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// y[0..31] = elements 32g .. 32g+31 of a row of K elements of type `type` starting at `row`.
__device__ inline void dequantGroup32(int type, const uint8_t* row, int64_t K, int64_t g, float* y) {
  switch (type) {
    case kF32: {
      const float* p = reinterpret_cast<const float*>(row) + 32 * g;
#pragma unroll
      for (int j = 0; j < 32; j++) y[j] = p[j];
      break;
    }
    case kF16: {
      const __half* p = reinterpret_cast<const __half*>(row) + 32 * g;
#pragma unroll
      for (int j = 0; j < 32; j++) y[j] = __half2float(p[j]);
      break;
    }
    case kBF16: {
      const bf16* p = reinterpret_cast<const bf16*>(row) + 32 * g;
#pragma unroll
      for (int j = 0; j < 32; j++) y[j] = __bfloat162float(p[j]);
      break;
    }
    case kQ8_0: {  // repacked: quants first, scales after
      const int8_t* q = reinterpret_cast<const int8_t*>(row) + 32 * g;
      float d = loadHalf(row + K + 2 * g);
#pragma unroll
      for (int j = 0; j < 32; j++) y[j] = d * float(q[j]);
      break;
    }
    case kQ4_0: {
      const uint8_t* b = row + 18 * g;
      float d = loadHalf(b);
#pragma unroll
      for (int j = 0; j < 16; j++) {
        y[j] = d * float(int(b[2 + j] & 0xF) - 8);
        y[j + 16] = d * float(int(b[2 + j] >> 4) - 8);
      }
      break;
    }
    case kQ4_K: {
      const uint8_t* b = row + 144 * (g >> 3);
      const int sub = int(g & 7), chunk = sub >> 1;
      int sc, m;
      kScaleMin(sub, b + 4, sc, m);
      const float d = loadHalf(b) * float(sc), mn = loadHalf(b + 2) * float(m);
      const uint8_t* q = b + 16 + 32 * chunk;
      const int shift = (sub & 1) * 4;
#pragma unroll
      for (int l = 0; l < 32; l++) y[l] = d * float((q[l] >> shift) & 0xF) - mn;
      break;
    }
    case kQ5_K: {
      const uint8_t* b = row + 176 * (g >> 3);
      const int sub = int(g & 7), chunk = sub >> 1;
      int sc, m;
      kScaleMin(sub, b + 4, sc, m);
      const float d = loadHalf(b) * float(sc), mn = loadHalf(b + 2) * float(m);
      const uint8_t* qh = b + 16;
      const uint8_t* q = b + 48 + 32 * chunk;
      const int shift = (sub & 1) * 4;
#pragma unroll
      for (int l = 0; l < 32; l++) y[l] = d * float(((q[l] >> shift) & 0xF) + (((qh[l] >> sub) & 1) << 4)) - mn;
      break;
    }
    case kQ6_K: {
      const uint8_t* b = row + 210 * (g >> 3);
      const int sub = int(g & 7), half = sub >> 2, quad = sub & 3;
      const uint8_t* ql = b + 64 * half + 32 * (quad & 1);
      const uint8_t* qh = b + 128 + 32 * half;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half + 2 * quad;
      const float d = loadHalf(b + 208);
      const int nibShift = (quad >> 1) * 4;
#pragma unroll
      for (int l = 0; l < 32; l++) {
        int q = ((ql[l] >> nibShift) & 0xF) | (((qh[l] >> (2 * quad)) & 3) << 4);
        y[l] = d * float(sc[l >> 4]) * float(q - 32);
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace pagedinfer::cuda
