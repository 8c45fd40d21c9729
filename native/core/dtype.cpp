#include "dtype.h"

namespace pagedinfer {

bool dtypeKnown(int32_t code) {
  switch (code) {
    case 0: case 1: case 2: case 8: case 12: case 13: case 14: case 30: return true;
    default: return false;
  }
}

const char* dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::Q4_0: return "Q4_0";
    case DType::Q8_0: return "Q8_0";
    case DType::Q4_K: return "Q4_K";
    case DType::Q5_K: return "Q5_K";
    case DType::Q6_K: return "Q6_K";
  }
  return "unknown";
}

int64_t dtypeBlockElems(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: return 1;
    case DType::Q4_0: case DType::Q8_0: return 32;
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return 256;
  }
  return 1;
}

int64_t dtypeBlockBytes(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::Q4_0: return 2 + 16;           // f16 scale, 32 nibbles
    case DType::Q8_0: return 2 + 32;           // f16 scale, 32 int8
    case DType::Q4_K: return 2 + 2 + 12 + 128; // d, dmin, 8 packed 6-bit scale/min pairs, 256 nibbles
    case DType::Q5_K: return 2 + 2 + 12 + 32 + 128;
    case DType::Q6_K: return 128 + 64 + 16 + 2; // low 4 bits, high 2 bits, int8 scales, f16 d
  }
  return 0;
}

float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { mant <<= 1; e++; } while ((mant & 0x400u) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t absBits = bits & 0x7fffffffu;
  if (absBits > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (absBits >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow to inf (65520 and up)
  if (absBits < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (absBits < 0x33000000u) return uint16_t(sign);
    // half subnormal m * 2^-24: m = mantissa24 * 2^(exp - 126), rounded to nearest even
    uint32_t exp = absBits >> 23;
    uint32_t mant = (absBits & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;  // 14..24 in this range
    uint32_t result = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (result & 1u))) result++;
    return uint16_t(sign | result);
  }
  uint32_t rounded = absBits + 0xfffu + ((absBits >> 13) & 1u);
  return uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}

}  // namespace pagedinfer
