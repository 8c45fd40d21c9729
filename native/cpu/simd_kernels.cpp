// Compiled once per instruction set with PAGEDINFER_SIMD_LEVEL naming it (avx512, avx2, baseline)
// and that set's compiler flags; everything here lands in namespace simd::<level>.
#include <cmath>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "../core/dtype.h"
#include "simd_kernels.h"

#ifndef PAGEDINFER_SIMD_LEVEL
#define PAGEDINFER_SIMD_LEVEL baseline
#endif
#define PAGEDINFER_STR2(x) #x
#define PAGEDINFER_STR(x) PAGEDINFER_STR2(x)

namespace pagedinfer::simd::PAGEDINFER_SIMD_LEVEL {
namespace {

// One vector of floats: 16 lanes (a zmm register) with AVX-512, 8 (ymm) otherwise. GCC's
// vector extension turns the arithmetic below into the set's instructions.
#if defined(__AVX512F__)
constexpr int VW = 16;
constexpr int MR = 4, NR = 4;  // 16 accumulators of 32 registers
#else
constexpr int VW = 8;
constexpr int MR = 4, NR = 3;  // 12 accumulators + 4 operands fit AVX2's 16 registers
#endif
typedef float vf __attribute__((vector_size(VW * 4)));
typedef uint16_t vu16 __attribute__((vector_size(VW * 2)));
typedef uint32_t vu32 __attribute__((vector_size(VW * 4)));

enum class WeightFormat { F32, BF16, F16 };

inline vf loadF(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float sumLanes(vf v) {
  float s = 0;
  for (int i = 0; i < VW; i++) s += v[i];
  return s;
}

// Half-precision weights widen in registers: bf16 is the top half of a float32; f16 converts
// with F16C's instruction where the set has it (GCC would scalarise a generic conversion).
template <WeightFormat WF>
inline vf loadW(const void* w, int64_t i) {
  if constexpr (WF == WeightFormat::F32) {
    return loadF(static_cast<const float*>(w) + i);
  } else if constexpr (WF == WeightFormat::BF16) {
    vu16 h;
    std::memcpy(&h, static_cast<const uint16_t*>(w) + i, sizeof(h));
    vu32 bits = __builtin_convertvector(h, vu32) << 16;
    vf f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(w) + i;
    vf v;
#if defined(__AVX512F__)
    __m256i h;
    std::memcpy(&h, p, sizeof(h));
    __m512 f = _mm512_cvtph_ps(h);
    std::memcpy(&v, &f, sizeof(v));
#elif defined(__F16C__)
    __m128i h;
    std::memcpy(&h, p, sizeof(h));
    __m256 f = _mm256_cvtph_ps(h);
    std::memcpy(&v, &f, sizeof(v));
#else
    for (int j = 0; j < VW; j++) v[j] = f16ToFloat(p[j]);
#endif
    return v;
  }
}

template <WeightFormat WF>
inline float weightAt(const void* w, int64_t i) {
  if constexpr (WF == WeightFormat::F32) return static_cast<const float*>(w)[i];
  else if constexpr (WF == WeightFormat::BF16) return bf16ToFloat(static_cast<const uint16_t*>(w)[i]);
  else return f16ToFloat(static_cast<const uint16_t*>(w)[i]);
}

// A register tile of M tokens x N weight rows, each accumulator a vector over k: every x vector
// loaded serves N rows and every w vector M tokens.
template <WeightFormat WF, int M, int N>
inline void tile(const float* x, int64_t K, const void* w, int64_t row0, float* out, int64_t ldOut) {
  vf acc[M][N] = {};
  int64_t k = 0;
  for (; k + VW <= K; k += VW) {
    vf wv[N];
    for (int r = 0; r < N; r++) wv[r] = loadW<WF>(w, (row0 + r) * K + k);
    for (int m = 0; m < M; m++) {
      vf xv = loadF(x + m * K + k);
      for (int r = 0; r < N; r++) acc[m][r] += xv * wv[r];
    }
  }
  for (int m = 0; m < M; m++)
    for (int r = 0; r < N; r++) {
      float s = sumLanes(acc[m][r]);
      for (int64_t j = k; j < K; j++) s += x[m * K + j] * weightAt<WF>(w, (row0 + r) * K + j);
      out[m * ldOut + r] = s;
    }
}

template <WeightFormat WF, int M, int N>
inline void rowsN(const float* x, int64_t K, const void* w, int64_t row0, int nRows, float* out, int64_t ldOut) {
  if constexpr (N > 0) {
    int r = 0;
    for (; r + N <= nRows; r += N) tile<WF, M, N>(x, K, w, row0 + r, out + r, ldOut);
    if (r < nRows) rowsN<WF, M, N - 1>(x, K, w, row0 + r, nRows - r, out + r, ldOut);
  }
}

template <WeightFormat WF, int M>
inline void tokensM(const float* x, int64_t T, int64_t K, const void* w, int64_t row0, int nRows, float* out,
                    int64_t ldOut) {
  if constexpr (M > 0) {
    int64_t t = 0;
    for (; t + M <= T; t += M) rowsN<WF, M, NR>(x + t * K, K, w, row0, nRows, out + t * ldOut, ldOut);
    if (t < T) tokensM<WF, M - 1>(x + t * K, T - t, K, w, row0, nRows, out + t * ldOut, ldOut);
  }
}

template <WeightFormat WF>
void dotTile(const float* x, int64_t T, int64_t K, const void* w, int64_t row0, int nRows, float* out, int64_t ld) {
  tokensM<WF, MR>(x, T, K, w, row0, nRows, out, ld);
}

// Scores of the whole context into a buffer, one softmax, then the weighted sum of V rows.
void attend(float* out, const float* q, const float* kc, const float* vc, const int32_t* blockTable, int blockSize,
            int ctx, int kvStride, int headDim, float scale, float* scores) {
  float maxScore = -INFINITY;
  for (int t = 0; t < ctx; t++) {
    int64_t slot = int64_t(blockTable[t / blockSize]) * blockSize + t % blockSize;
    const float* kp = kc + slot * kvStride;
    vf acc = {};
    int d = 0;
    for (; d + VW <= headDim; d += VW) acc += loadF(q + d) * loadF(kp + d);
    float dot = sumLanes(acc);
    for (; d < headDim; d++) dot += q[d] * kp[d];
    scores[t] = dot * scale;
    maxScore = std::max(maxScore, scores[t]);
  }
  float sum = 0;
  for (int t = 0; t < ctx; t++) {
    scores[t] = std::exp(scores[t] - maxScore);
    sum += scores[t];
  }
  for (int d = 0; d < headDim; d++) out[d] = 0;
  for (int t = 0; t < ctx; t++) {
    int64_t slot = int64_t(blockTable[t / blockSize]) * blockSize + t % blockSize;
    const float* vp = vc + slot * kvStride;
    float p = scores[t];
    for (int d = 0; d < headDim; d++) out[d] += p * vp[d];
  }
  float inv = 1.0f / sum;
  for (int d = 0; d < headDim; d++) out[d] *= inv;
}

}  // namespace

QuantKernels quantKernels();  // simd_quant.cpp

const Kernels& kernels() {
  static const Kernels k{PAGEDINFER_STR(PAGEDINFER_SIMD_LEVEL), dotTile<WeightFormat::F32>, dotTile<WeightFormat::BF16>,
                         dotTile<WeightFormat::F16>, attend, quantKernels()};
  return k;
}

}  // namespace pagedinfer::simd::PAGEDINFER_SIMD_LEVEL
