// Plain dequantization of every weight type, one row at a time. This is the reference the
// quantized kernels of each backend are tested against, and the path for rare uses
// (embedding rows, small tensors) where speed does not matter.
#pragma once
#include <cstdint>
#include "dtype.h"

namespace pagedinfer {

// Converts n elements (a whole number of blocks) of type t at src to float at dst.
void dequantizeRow(DType t, const void* src, float* dst, int64_t n);

// Block layouts (GGUF / ggml). Scales are IEEE half.
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block");
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block");
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block");
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block");

// K-quant super-blocks pack eight 6-bit (scale, min) pairs into 12 bytes.
inline void kQuantScaleMin(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace pagedinfer
