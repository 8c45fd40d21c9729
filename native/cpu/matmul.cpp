// out[T, N] = x[T, K] @ w[N, K]^T (+ bias) for every weight type. Threads split the weight rows
// into tiles; a tile of non-float32 rows is converted (dequantized) into a small per-thread
// buffer once, then every token's dot products run against it, four weight rows at a time so each
// x element loaded serves four outputs. No float copy of the model is ever made.
#include <algorithm>
#include <vector>

#include "../core/quant.h"
#include "cpu_backend.h"
#include "simd.h"

namespace pagedinfer {

namespace {

constexpr int kRowTile = 16;

PAGEDINFER_SIMD_CLONES
void dotTile(const float* x, int64_t T, int64_t K, const float* w, int nRows, float* out, int64_t ldOut) {
  for (int64_t t = 0; t < T; t++) {
    const float* xr = x + t * K;
    float* o = out + t * ldOut;
    int r = 0;
    for (; r + 4 <= nRows; r += 4) {
      const float* w0 = w + int64_t(r) * K;
      const float* w1 = w0 + K;
      const float* w2 = w1 + K;
      const float* w3 = w2 + K;
      float a0[8] = {}, a1[8] = {}, a2[8] = {}, a3[8] = {};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8) {
        for (int u = 0; u < 8; u++) {
          float xv = xr[k + u];
          a0[u] += xv * w0[k + u];
          a1[u] += xv * w1[k + u];
          a2[u] += xv * w2[k + u];
          a3[u] += xv * w3[k + u];
        }
      }
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int u = 0; u < 8; u++) {
        s0 += a0[u];
        s1 += a1[u];
        s2 += a2[u];
        s3 += a3[u];
      }
      for (; k < K; k++) {
        s0 += xr[k] * w0[k];
        s1 += xr[k] * w1[k];
        s2 += xr[k] * w2[k];
        s3 += xr[k] * w3[k];
      }
      o[r] = s0;
      o[r + 1] = s1;
      o[r + 2] = s2;
      o[r + 3] = s3;
    }
    for (; r < nRows; r++) {
      const float* wr = w + int64_t(r) * K;
      float a[8] = {};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int u = 0; u < 8; u++) a[u] += xr[k + u] * wr[k + u];
      float s = 0;
      for (int u = 0; u < 8; u++) s += a[u];
      for (; k < K; k++) s += xr[k] * wr[k];
      o[r] = s;
    }
  }
}

}  // namespace

void CpuBackend::matmul(Tensor out, Tensor x, const Weight& w, const Weight* bias) {
  const int64_t T = x.rows, K = x.cols, N = w.rows;
  const int64_t rowBytes = dtypeRowBytes(w.dtype, K);
  const int64_t tiles = (N + kRowTile - 1) / kRowTile;
  pool().parallelFor(tiles, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> buffer;
    for (int64_t tile = i0; tile < i1; tile++) {
      int64_t n0 = tile * kRowTile;
      int nRows = int(std::min<int64_t>(kRowTile, N - n0));
      const float* rows;
      if (w.dtype == DType::F32) {
        rows = static_cast<const float*>(w.data) + n0 * K;
      } else {
        buffer.resize(size_t(kRowTile * K));
        const uint8_t* src = static_cast<const uint8_t*>(w.data) + n0 * rowBytes;
        for (int r = 0; r < nRows; r++) dequantizeRow(w.dtype, src + r * rowBytes, buffer.data() + r * K, K);
        rows = buffer.data();
      }
      dotTile(x.f32(), T, K, rows, nRows, out.f32() + n0, out.cols);
      if (bias) {
        const float* b = static_cast<const float*>(bias->data) + n0;
        for (int64_t t = 0; t < T; t++)
          for (int r = 0; r < nRows; r++) out.f32()[t * out.cols + n0 + r] += b[r];
      }
    }
  });
}

}  // namespace pagedinfer
