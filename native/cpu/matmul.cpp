// out[T, N] = x[T, K] @ w[N, K]^T (+ bias) for every weight type. Threads split the weight rows
// into tiles. Float weights (f32, bf16, f16) are widened in registers inside register-tiled
// float dots; quantized weights go through 8-bit integer dots (simd_kernels.h). No float copy of
// the model is ever made.
#include <algorithm>
#include <string>
#include <vector>

#include "../core/quant.h"
#include "../core/errors.h"
#include "cpu_backend.h"
#include "simd_kernels.h"

namespace pagedinfer {

namespace {

constexpr int kRowTile = 16;

void addBias(Tensor out, const Weight& bias) {
  const float* b = static_cast<const float*>(bias.data);
  for (int64_t t = 0; t < out.rows; t++)
    for (int64_t n = 0; n < out.cols; n++) out.f32()[t * out.cols + n] += b[n];
}

}  // namespace

namespace {

// Quantized weights: the activations are quantized to 8-bit blocks once per call, then each
// thread unpacks a tile of weight rows to int8 (in L1) and runs integer dots against every token.
// One path for every batch size, so a request's numbers do not depend on what it was batched with.
void matmulQuantized(ThreadPool& pool, Tensor out, Tensor x, const Weight& w) {
  const simd::QuantKernels& qk = simd::best().quant;
  const int64_t T = x.rows, K = x.cols, N = w.rows, nb = K / 32;
  std::vector<int8_t> qa(static_cast<size_t>(T * K));
  std::vector<float> da(static_cast<size_t>(T * nb));
  std::vector<int32_t> sa(static_cast<size_t>(T * nb));
  pool.parallelFor(T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) qk.quantizeAct(x.f32() + t * K, K, &qa[t * K], &da[t * nb], &sa[t * nb]);
  });
  simd::UnpackFn unpack = nullptr;
  switch (w.dtype) {
    case DType::Q8_0: unpack = qk.unpackQ8_0; break;
    case DType::Q4_0: unpack = qk.unpackQ4_0; break;
    case DType::Q4_K: unpack = qk.unpackQ4_K; break;
    case DType::Q5_K: unpack = qk.unpackQ5_K; break;
    case DType::Q6_K: unpack = qk.unpackQ6_K; break;
    default: throw InvalidArgumentError(std::string("matmul: unsupported weight type ") + dtypeName(w.dtype));
  }
  const bool hasMins = w.dtype == DType::Q4_K || w.dtype == DType::Q5_K;
  const int64_t rowBytes = dtypeRowBytes(w.dtype, K);
  const int64_t tiles = (N + kRowTile - 1) / kRowTile;
  pool.parallelFor(tiles, 1, [&](int64_t i0, int64_t i1) {
    std::vector<int8_t> qw(static_cast<size_t>(kRowTile * K));
    std::vector<float> scale16(static_cast<size_t>(kRowTile * K / 16)), min32(static_cast<size_t>(kRowTile * nb));
    for (int64_t tile = i0; tile < i1; tile++) {
      int64_t n0 = tile * kRowTile;
      int nRows = int(std::min<int64_t>(kRowTile, N - n0));
      const uint8_t* src = static_cast<const uint8_t*>(w.data) + n0 * rowBytes;
      // Decode streams every weight once from memory: while unpacking row r of this tile, ask for
      // row r of the next one, so that it arrives during this tile's dots instead of stalling
      // the next unpack (spread over the rows: one burst of a whole tile clogs the line buffers).
      const uint8_t* next = tile + 1 < i1 ? src + int64_t(nRows) * rowBytes : nullptr;
      const int nextRows = next ? int(std::min<int64_t>(kRowTile, N - n0 - nRows)) : 0;
      for (int r = 0; r < nRows; r++) {
        if (r < nextRows)
          for (int64_t off = 0; off < rowBytes; off += 64) __builtin_prefetch(next + r * rowBytes + off, 0, 2);
        unpack(src + r * rowBytes, K, &qw[r * K], &scale16[r * (K / 16)], &min32[r * nb]);
      }
      qk.dotTile(qa.data(), da.data(), sa.data(), T, K, qw.data(), scale16.data(), hasMins ? min32.data() : nullptr, nRows,
                 out.f32() + n0, out.cols);
    }
  });
}

}  // namespace

void CpuBackend::matmul(Tensor out, Tensor x, const Weight& w, const Weight* bias) {
  const int64_t T = x.rows, K = x.cols, N = w.rows;
  if (dtypeIsQuantized(w.dtype)) {
    matmulQuantized(pool(), out, x, w);
    if (bias) addBias(out, *bias);
    return;
  }
  const int64_t tiles = (N + kRowTile - 1) / kRowTile;
  pool().parallelFor(tiles, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t tile = i0; tile < i1; tile++) {
      int64_t n0 = tile * kRowTile;
      int nRows = int(std::min<int64_t>(kRowTile, N - n0));
      float* o = out.f32() + n0;
      const simd::Kernels& k = simd::best();
      switch (w.dtype) {
        case DType::F32: k.dotTileF32(x.f32(), T, K, w.data, n0, nRows, o, out.cols); break;
        case DType::BF16: k.dotTileBF16(x.f32(), T, K, w.data, n0, nRows, o, out.cols); break;
        case DType::F16: k.dotTileF16(x.f32(), T, K, w.data, n0, nRows, o, out.cols); break;
        default: throw InvalidArgumentError(std::string("matmul: unsupported weight type ") + dtypeName(w.dtype));
      }
    }
  });
  if (bias) addBias(out, *bias);
}

}  // namespace pagedinfer
