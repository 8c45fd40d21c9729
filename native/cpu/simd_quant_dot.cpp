// The quantized matmul's inner kernel: int8 activation blocks times int8-unpacked weight rows
// (simd_kernels.h gives the arithmetic), compiled once per instruction set.
//
// Register tiles of MR tokens x NR weight rows: each weight vector loaded serves MR tokens and
// each activation vector NR rows, and the MR*NR accumulators are independent chains, so the
// multiply-adds overlap instead of waiting on one another. Per 32 weights and (token, row) the
// work is: give the activations the weights' signs, multiply-add pairs of bytes (|w| <= 128
// unsigned times a signed activation of |a| <= 127 cannot saturate), sum pairs to int32 lanes,
// convert, and one fused multiply-add by (weight scale x activation scale); with AVX-512 the
// first three are one VNNI instruction. Lanes 0-3 of each
// block cover its first 16 weights and lanes 4-7 the next 16, the groups of the per-16 scales.
// The K-quant mins add  - sum_b min[b] * da[b] * sa[b]  per (token, row), a short dot over blocks.
#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "simd_kernels.h"

#ifndef PAGEDINFER_SIMD_LEVEL
#define PAGEDINFER_SIMD_LEVEL baseline
#endif

namespace pagedinfer::simd::PAGEDINFER_SIMD_LEVEL {
namespace {

// sum_b min[b] * dsa[b]  (dsa = da * sa of one token), null mins for types without them. Eight
// partial sums: one running sum would wait on the latency of every add.
inline float minTerm(const float* mn, const float* dsa, int64_t nb) {
  if (!mn) return 0;
  float part[8] = {};
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8)
    for (int i = 0; i < 8; i++) part[i] += mn[b + i] * dsa[b + i];
  float s = 0;
  for (; b < nb; b++) s += mn[b] * dsa[b];
  for (int i = 0; i < 8; i++) s += part[i];
  return s;
}

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
constexpr int MR = 4, NR = 4;
constexpr int kChunk = 64;  // elements per vector: two blocks, four scale groups

inline __m512 expand4(const float* p, __mmask8 keep) {  // lanes 4g..4g+3 = p[g]
  const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(_mm_maskz_loadu_ps(keep, p)));
}
inline __m512 expand2(const float* p, __mmask8 keep) {  // lanes 0-7 = p[0], 8-15 = p[1]
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(_mm_maskz_loadu_ps(keep, p)));
}

template <int M, int N>
void tile(const int8_t* qa, const float* da, const float* dsa, int64_t K, const int8_t* qw, const float* scale16,
          const float* min32, float* out, int64_t ldOut) {
  const int64_t nb = K / 32, ng = K / 16;
  __m512 acc[M][N];
  for (int m = 0; m < M; m++)
    for (int r = 0; r < N; r++) acc[m][r] = _mm512_setzero_ps();
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  for (int64_t k = 0; k < K; k += kChunk) {
    // A last chunk of one block (K an odd number of blocks) loads half: zeros contribute nothing.
    const bool full = k + kChunk <= K;
    const __mmask64 bytes = full ? ~__mmask64(0) : __mmask64(0xFFFFFFFFu);
    const __mmask8 groups = full ? 0xF : 0x3, blocks = full ? 0x3 : 0x1;
    __m512i w[N], start[N];
    __m512 sc[N];
    for (int r = 0; r < N; r++) {
      w[r] = _mm512_maskz_loadu_epi8(bytes, qw + r * K + k);
      // VNNI multiplies unsigned by signed bytes: the activations go in as a + 128 (their sign
      // bit flipped), so each lane's sum starts at -128 x (its four weights' sum) to cancel that.
      start[r] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, w[r]));
      sc[r] = expand4(scale16 + r * ng + k / 16, groups);
    }
    for (int m = 0; m < M; m++) {
      __m512i a = _mm512_xor_si512(_mm512_maskz_loadu_epi8(bytes, qa + m * K + k), flip);
      __m512 d = expand2(da + m * nb + k / 32, blocks);
      for (int r = 0; r < N; r++) {
        __m512i sums = _mm512_dpbusd_epi32(start[r], a, w[r]);
        acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(sc[r], d), acc[m][r]);
      }
    }
  }
  for (int m = 0; m < M; m++)
    for (int r = 0; r < N; r++)
      out[m * ldOut + r] = _mm512_reduce_add_ps(acc[m][r]) - minTerm(min32 ? min32 + r * nb : nullptr, dsa ? dsa + m * nb : nullptr, nb);
}

#elif defined(__AVX2__)
constexpr int MR = 4, NR = 2;  // 8 accumulators + operands fit AVX2's 16 registers

template <int M, int N>
void tile(const int8_t* qa, const float* da, const float* dsa, int64_t K, const int8_t* qw, const float* scale16,
          const float* min32, float* out, int64_t ldOut) {
  const int64_t nb = K / 32, ng = K / 16;
  __m256 acc[M][N];
  for (int m = 0; m < M; m++)
    for (int r = 0; r < N; r++) acc[m][r] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i lanes = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0);
  for (int64_t b = 0; b < nb; b++) {
    __m256i w[N], wabs[N];
    __m256 sc[N];
    for (int r = 0; r < N; r++) {
      w[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qw + r * K + 32 * b));
      wabs[r] = _mm256_sign_epi8(w[r], w[r]);
      __m128 two = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(scale16 + r * ng + 2 * b)));
      sc[r] = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(two), lanes);
    }
    for (int m = 0; m < M; m++) {
      __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + m * K + 32 * b));
      __m256 d = _mm256_set1_ps(da[m * nb + b]);
      for (int r = 0; r < N; r++) {
        __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[r], _mm256_sign_epi8(a, w[r])), ones);
        acc[m][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(sc[r], d), acc[m][r]);
      }
    }
  }
  for (int m = 0; m < M; m++)
    for (int r = 0; r < N; r++) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[m][r]), _mm256_extractf128_ps(acc[m][r], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      out[m * ldOut + r] = _mm_cvtss_f32(s) - minTerm(min32 ? min32 + r * nb : nullptr, dsa ? dsa + m * nb : nullptr, nb);
    }
}

#else
constexpr int MR = 2, NR = 2;

template <int M, int N>
void tile(const int8_t* qa, const float* da, const float* dsa, int64_t K, const int8_t* qw, const float* scale16,
          const float* min32, float* out, int64_t ldOut) {
  const int64_t nb = K / 32, ng = K / 16;
  for (int m = 0; m < M; m++)
    for (int r = 0; r < N; r++) {
      float acc = 0;
      for (int64_t g = 0; g < ng; g++) {
        int32_t s = 0;
        for (int i = 0; i < 16; i++) s += int32_t(qw[r * K + 16 * g + i]) * int32_t(qa[m * K + 16 * g + i]);
        acc += scale16[r * ng + g] * da[m * nb + g / 2] * float(s);
      }
      out[m * ldOut + r] = acc - minTerm(min32 ? min32 + r * nb : nullptr, dsa ? dsa + m * nb : nullptr, nb);
    }
}
#endif

template <int M, int N>
void rows(const int8_t* qa, const float* da, const float* dsa, int64_t K, const int8_t* qw, const float* scale16,
          const float* min32, int nRows, float* out, int64_t ldOut) {
  if constexpr (N > 0) {
    int r = 0;
    for (; r + N <= nRows; r += N)
      tile<M, N>(qa, da, dsa, K, qw + r * K, scale16 + r * (K / 16), min32 ? min32 + r * (K / 32) : nullptr, out + r, ldOut);
    if (r < nRows)
      rows<M, N - 1>(qa, da, dsa, K, qw + r * K, scale16 + r * (K / 16), min32 ? min32 + r * (K / 32) : nullptr, nRows - r,
                     out + r, ldOut);
  }
}

template <int M>
void tokens(const int8_t* qa, const float* da, const float* dsa, int64_t T, int64_t K, const int8_t* qw,
            const float* scale16, const float* min32, int nRows, float* out, int64_t ldOut) {
  if constexpr (M > 0) {
    const int64_t nb = K / 32;
    int64_t t = 0;
    for (; t + M <= T; t += M)
      rows<M, NR>(qa + t * K, da + t * nb, dsa ? dsa + t * nb : nullptr, K, qw, scale16, min32, nRows, out + t * ldOut, ldOut);
    if (t < T)
      tokens<M - 1>(qa + t * K, da + t * nb, dsa ? dsa + t * nb : nullptr, T - t, K, qw, scale16, min32, nRows, out + t * ldOut, ldOut);
  }
}

}  // namespace

void dotTileQ(const int8_t* qa, const float* da, const int32_t* sa, int64_t T, int64_t K, const int8_t* qw,
              const float* scale16, const float* min32, int nRows, float* out, int64_t ldOut) {
  const int64_t nb = K / 32;
  thread_local std::vector<float> dsa;
  if (min32) {
    dsa.resize(size_t(T * nb));
    for (int64_t i = 0; i < T * nb; i++) dsa[i] = da[i] * float(sa[i]);
  }
  tokens<MR>(qa, da, min32 ? dsa.data() : nullptr, T, K, qw, scale16, min32, nRows, out, ldOut);
}

}  // namespace pagedinfer::simd::PAGEDINFER_SIMD_LEVEL
