// Counter-based random numbers: a value depends only on (seed, counter), never on what else ran,
// so a request's sampled tokens do not change with how it was batched, and every backend draws
// the same numbers.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace pagedinfer {

#if defined(__CUDACC__)
#define PAGEDINFER_HD __host__ __device__
#else
#define PAGEDINFER_HD
#endif

PAGEDINFER_HD inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 53 random bits.
PAGEDINFER_HD inline double uniform01(uint64_t seed, uint64_t counter) {
  uint64_t r = splitmix64(seed ^ splitmix64(counter + 0x632be59bd9b4e019ull));
  return double(r >> 11) * (1.0 / 9007199254740992.0);
}

// Float arithmetic rounded after every operation on host and device alike: the id-order draw
// (sampler.h) must compute the same token masses on every backend (nvcc would otherwise fuse a
// multiply and an add into one rounding; sampler.cpp is built without contraction: CMakeLists.txt).
#if defined(__CUDA_ARCH__)
#define PAGEDINFER_FMUL(a, b) __fmul_rn(a, b)
#define PAGEDINFER_FADD(a, b) __fadd_rn(a, b)
#else
#define PAGEDINFER_FMUL(a, b) ((a) * (b))
#define PAGEDINFER_FADD(a, b) ((a) + (b))
#endif

// exp(d) for d <= 0 with the same bits everywhere (libm's and CUDA's expf do not promise that):
// 2^(d log2 e) split into an integer power, set in the exponent bits, and a degree-7 Taylor
// polynomial for 2^f, |f| <= 1/2 (relative error ~1e-7). Exactly 1 at 0; 0 below 2^-126 and for NaN.
PAGEDINFER_HD inline float walkExp(float d) {
  const float t = PAGEDINFER_FMUL(d, 1.44269504f);
  if (!(t >= -126.0f)) return 0.0f;
  const float k = floorf(PAGEDINFER_FADD(t, 0.5f));
  const float f = PAGEDINFER_FADD(t, -k);
  float p = PAGEDINFER_FADD(1.5403530e-4f, PAGEDINFER_FMUL(f, 1.5252734e-5f));  // (ln 2)^n / n!
  p = PAGEDINFER_FADD(1.3333558e-3f, PAGEDINFER_FMUL(f, p));
  p = PAGEDINFER_FADD(9.6181291e-3f, PAGEDINFER_FMUL(f, p));
  p = PAGEDINFER_FADD(5.5504109e-2f, PAGEDINFER_FMUL(f, p));
  p = PAGEDINFER_FADD(2.4022651e-1f, PAGEDINFER_FMUL(f, p));
  p = PAGEDINFER_FADD(6.9314718e-1f, PAGEDINFER_FMUL(f, p));
  p = PAGEDINFER_FADD(1.0f, PAGEDINFER_FMUL(f, p));
  const uint32_t bits = uint32_t(int(k) + 127) << 23;  // k in [-126, 0] for d <= 0
  float scale;
  memcpy(&scale, &bits, 4);
  return PAGEDINFER_FMUL(p, scale);
}

}  // namespace pagedinfer
