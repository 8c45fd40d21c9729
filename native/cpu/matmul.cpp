// out[T, N] = x[T, K] @ w[N, K]^T (+ bias) for every weight type. Threads split the weight rows
// into tiles; a tile of non-float32 rows is converted (dequantized) into a small per-thread
// buffer once, then every token's dot products run against it, four weight rows at a time so each
// x element loaded serves four outputs. No float copy of the model is ever made.
#include <algorithm>
#include <vector>

#include "../core/quant.h"
#include "cpu_backend.h"
#include "simd_kernels.h"

namespace pagedinfer {

namespace {

constexpr int kRowTile = 16;

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
      float* o = out.f32() + n0;
      const simd::Kernels& k = simd::best();
      switch (w.dtype) {
        case DType::F32: k.dotTileF32(x.f32(), T, K, w.data, n0, nRows, o, out.cols); break;
        case DType::BF16: k.dotTileBF16(x.f32(), T, K, w.data, n0, nRows, o, out.cols); break;
        case DType::F16: k.dotTileF16(x.f32(), T, K, w.data, n0, nRows, o, out.cols); break;
        default: {
          // Quantized: dequantize the tile's rows into a small per-thread buffer, then float dots.
          buffer.resize(static_cast<size_t>(kRowTile * K));
          const uint8_t* src = static_cast<const uint8_t*>(w.data) + n0 * rowBytes;
          for (int r = 0; r < nRows; r++) dequantizeRow(w.dtype, src + r * rowBytes, buffer.data() + r * K, K);
          k.dotTileF32(x.f32(), T, K, buffer.data(), 0, nRows, o, out.cols);
        }
      }
      if (bias) {
        const float* b = static_cast<const float*>(bias->data) + n0;
        for (int64_t t = 0; t < T; t++)
          for (int r = 0; r < nRows; r++) out.f32()[t * out.cols + n0 + r] += b[r];
      }
    }
  });
}

}  // namespace pagedinfer
