// Quantized matmul pieces (see simd_kernels.h for the arithmetic): 8-bit activation blocks,
// weight rows of every quantized type unpacked to int8 + scales, and the int8 dot tile. Compiled
// once per instruction set like simd_kernels.cpp; the int8 loops vectorise to widening
// multiply-adds.
#include <cmath>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "../core/dtype.h"
#include "../core/quant.h"
#include "simd_kernels.h"

#ifndef PAGEDINFER_SIMD_LEVEL
#define PAGEDINFER_SIMD_LEVEL baseline
#endif

namespace pagedinfer::simd::PAGEDINFER_SIMD_LEVEL {
namespace {

// 16 / 32 bytes as one vector: nibble and bit unpacking below is whole-vector arithmetic.
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint8_t u8x32 __attribute__((vector_size(32)));

// Scales are IEEE half: one instruction with F16C (dtype.h's portable conversion is a call).
inline float half(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16ToFloat(h);
#endif
}
inline float roundToHalf(float x) {
#if defined(__F16C__)
  return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
  return f16ToFloat(floatToF16(x));
#endif
}

template <typename V>
inline V loadBytes(const uint8_t* p) {
  V v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename V>
inline void storeBytes(int8_t* p, V v) {
  std::memcpy(p, &v, sizeof(v));
}

// Activations become llama.cpp's Q8_0 blocks: int8 values round(x * 127 / amax) and a scale
// amax / 127 that is stored, and so used, as IEEE half. Rounding the scale costs at most 2^-11
// relative per block (far below the 8-bit step), but keeps our products equal to llama.cpp's:
// with the float scale, the tiny difference flips downstream roundings and the two engines'
// logits part by a full activation-quantization error (measured: rms 0.027 instead of 0.003 on
// the Q8_0 fixtures; test/gguf-quantized.test.ts).
void quantizeAct(const float* x, int64_t K, int8_t* qa, float* da, int32_t* sa) {
  for (int64_t b = 0; b < K / 32; b++) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = std::fmax(amax, std::fabs(xb[i]));
    float d = amax / 127.0f;
    float inv = d > 0 ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; i++) {
      int v = int(std::nearbyint(xb[i] * inv));
      qa[b * 32 + i] = int8_t(v);
      sum += v;
    }
    da[b] = roundToHalf(d);
    sa[b] = sum;
  }
}

void unpackQ8_0(const void* row, int64_t K, int8_t* q, float* scale16, float* min32) {
  const BlockQ8_0* blocks = static_cast<const BlockQ8_0*>(row);
  for (int64_t b = 0; b < K / 32; b++) {
    std::memcpy(q + b * 32, blocks[b].qs, 32);
    scale16[2 * b] = scale16[2 * b + 1] = half(blocks[b].d);
    min32[b] = 0;
  }
}

void unpackQ4_0(const void* row, int64_t K, int8_t* q, float* scale16, float* min32) {
  const BlockQ4_0* blocks = static_cast<const BlockQ4_0*>(row);
  for (int64_t b = 0; b < K / 32; b++) {
    u8x16 qs = loadBytes<u8x16>(blocks[b].qs);
    storeBytes(q + b * 32, (qs & 0xF) - 8);  // wraps to the signed value -8..7
    storeBytes(q + b * 32 + 16, (qs >> 4) - 8);
    scale16[2 * b] = scale16[2 * b + 1] = half(blocks[b].d);
    min32[b] = 0;
  }
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with a 6-bit scale and min each; value = d*sc*q - dmin*m.
template <bool HighBit>
void unpackK(const uint8_t* d16, const uint8_t* scales, const uint8_t* qh, const uint8_t* qs, int8_t* q, float* scale16,
             float* min32) {
  uint16_t h;
  std::memcpy(&h, d16, 2);
  const float d = half(h);
  std::memcpy(&h, d16 + 2, 2);
  const float dmin = half(h);
  for (int j = 0; j < 4; j++) {  // 64 values per j: low nibbles are sub-block 2j, high 2j+1
    u8x32 ql = loadBytes<u8x32>(qs + 32 * j);
    u8x32 lo = ql & 0xF, hi = ql >> 4;
    if constexpr (HighBit) {
      u8x32 h = loadBytes<u8x32>(qh);
      lo += ((h >> (2 * j)) & 1) << 4;
      hi += ((h >> (2 * j + 1)) & 1) << 4;
    }
    storeBytes(q + 64 * j, lo);
    storeBytes(q + 64 * j + 32, hi);
    for (int s = 0; s < 2; s++) {
      uint8_t sc, m;
      kQuantScaleMin(2 * j + s, scales, &sc, &m);
      scale16[4 * j + 2 * s] = scale16[4 * j + 2 * s + 1] = d * sc;
      min32[2 * j + s] = dmin * m;
    }
  }
}

void unpackQ4_K(const void* row, int64_t K, int8_t* q, float* scale16, float* min32) {
  const BlockQ4_K* blocks = static_cast<const BlockQ4_K*>(row);
  for (int64_t b = 0; b < K / 256; b++)
    unpackK<false>(reinterpret_cast<const uint8_t*>(&blocks[b].d), blocks[b].scales, nullptr, blocks[b].qs, q + b * 256,
                   scale16 + b * 16, min32 + b * 8);
}

void unpackQ5_K(const void* row, int64_t K, int8_t* q, float* scale16, float* min32) {
  const BlockQ5_K* blocks = static_cast<const BlockQ5_K*>(row);
  for (int64_t b = 0; b < K / 256; b++)
    unpackK<true>(reinterpret_cast<const uint8_t*>(&blocks[b].d), blocks[b].scales, blocks[b].qh, blocks[b].qs,
                  q + b * 256, scale16 + b * 16, min32 + b * 8);
}

// Q6_K: 6-bit values (4 low bits in ql, 2 high in qh) minus 32, an int8 scale per 16.
void unpackQ6_K(const void* row, int64_t K, int8_t* q, float* scale16, float* min32) {
  const BlockQ6_K* blocks = static_cast<const BlockQ6_K*>(row);
  for (int64_t b = 0; b < K / 256; b++) {
    const BlockQ6_K& blk = blocks[b];
    float d = half(blk.d);
    int8_t* out = q + b * 256;
    for (int half = 0; half < 2; half++) {
      const uint8_t* ql = blk.ql + 64 * half;
      const uint8_t* qh = blk.qh + 32 * half;
      int8_t* o = out + 128 * half;
      u8x32 l0 = loadBytes<u8x32>(ql), l1 = loadBytes<u8x32>(ql + 32), h = loadBytes<u8x32>(qh);
      storeBytes(o, ((l0 & 0xF) | ((h & 3) << 4)) - 32);
      storeBytes(o + 32, ((l1 & 0xF) | (((h >> 2) & 3) << 4)) - 32);
      storeBytes(o + 64, ((l0 >> 4) | (((h >> 4) & 3) << 4)) - 32);
      storeBytes(o + 96, ((l1 >> 4) | (((h >> 6) & 3) << 4)) - 32);
    }
    for (int g = 0; g < 16; g++) scale16[b * 16 + g] = d * blk.scales[g];
    for (int g = 0; g < 8; g++) min32[b * 8 + g] = 0;
  }
}

}  // namespace

void dotTileQ(const int8_t* qa, const float* da, const int32_t* sa, int64_t T, int64_t K, const int8_t* qw,
              const float* scale16, const float* min32, int nRows, float* out, int64_t ldOut);  // simd_quant_dot.cpp

QuantKernels quantKernels() {
  return QuantKernels{quantizeAct, unpackQ8_0, unpackQ4_0, unpackQ4_K, unpackQ5_K, unpackQ6_K, dotTileQ};
}

}  // namespace pagedinfer::simd::PAGEDINFER_SIMD_LEVEL
