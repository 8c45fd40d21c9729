// Weight storage types. Codes are GGUF's ggml_type values (lib/model/types.ts uses the same),
// so GGUF tensors need no translation table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pagedinfer {

enum class DType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

bool dtypeKnown(int32_t code);
const char* dtypeName(DType t);
// Elements per storage block (1 for plain floats, 32 for Q8_0/Q4_0, 256 for K-quants).
int64_t dtypeBlockElems(DType t);
// Bytes per storage block.
int64_t dtypeBlockBytes(DType t);
inline bool dtypeIsQuantized(DType t) { return dtypeBlockElems(t) > 1; }
// Bytes of a row of `cols` elements; cols must be a multiple of the block size.
inline int64_t dtypeRowBytes(DType t, int64_t cols) { return cols / dtypeBlockElems(t) * dtypeBlockBytes(t); }

// IEEE half and bfloat16 <-> float, exact (round to nearest even on the way down).
inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // keep NaN a NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}
float f16ToFloat(uint16_t h);
uint16_t floatToF16(float f);

}  // namespace pagedinfer
