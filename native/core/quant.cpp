#include "quant.h"

namespace pagedinfer {

namespace {

void dequantQ8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += 32) {
    float d = f16ToFloat(b[i].d);
    for (int j = 0; j < 32; j++) y[j] = d * b[i].qs[j];
  }
}

void dequantQ4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += 32) {
    float d = f16ToFloat(b[i].d);
    for (int j = 0; j < 16; j++) {
      y[j] = d * (int(b[i].qs[j] & 0xF) - 8);
      y[j + 16] = d * (int(b[i].qs[j] >> 4) - 8);
    }
  }
}

void dequantQ4_K(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = f16ToFloat(b[i].d), dmin = f16ToFloat(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32, y += 64) {
      uint8_t sc, m;
      kQuantScaleMin(is, b[i].scales, &sc, &m);
      float d1 = d * sc, m1 = dmin * m;
      kQuantScaleMin(is + 1, b[i].scales, &sc, &m);
      float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++) y[l] = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++) y[32 + l] = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantQ5_K(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = f16ToFloat(b[i].d), dmin = f16ToFloat(b[i].dmin);
    const uint8_t* ql = b[i].qs;
    const uint8_t* qh = b[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, y += 64) {
      uint8_t sc, m;
      kQuantScaleMin(is, b[i].scales, &sc, &m);
      float d1 = d * sc, m1 = dmin * m;
      kQuantScaleMin(is + 1, b[i].scales, &sc, &m);
      float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++) y[l] = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++) y[32 + l] = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      u1 = uint8_t(u1 << 2);
      u2 = uint8_t(u2 << 2);
    }
  }
}

void dequantQ6_K(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = f16ToFloat(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

}  // namespace

void dequantizeRow(DType t, const void* src, float* dst, int64_t n) {
  int64_t nb = n / dtypeBlockElems(t);
  switch (t) {
    case DType::F32: {
      const float* s = static_cast<const float*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = s[i];
      break;
    }
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = f16ToFloat(s[i]);
      break;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = bf16ToFloat(s[i]);
      break;
    }
    case DType::Q8_0: dequantQ8_0(static_cast<const BlockQ8_0*>(src), dst, nb); break;
    case DType::Q4_0: dequantQ4_0(static_cast<const BlockQ4_0*>(src), dst, nb); break;
    case DType::Q4_K: dequantQ4_K(static_cast<const BlockQ4_K*>(src), dst, nb); break;
    case DType::Q5_K: dequantQ5_K(static_cast<const BlockQ5_K*>(src), dst, nb); break;
    case DType::Q6_K: dequantQ6_K(static_cast<const BlockQ6_K*>(src), dst, nb); break;
  }
}

}  // namespace pagedinfer
