// Counter-based random numbers: a value depends only on (seed, counter), never on what else ran,
// so a request's sampled tokens do not change with how it was batched, and every backend draws
// the same numbers.
#pragma once
#include <cmath>
#include <cstdint>

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

// The untruncated draw (sampler.h) gives every token its own Gumbel noise: a 32-bit mix of the
// row's key and the token id, 24 bits of it as u in (0, 1) (exact in float on every backend),
// then -log(-log(u)). Backends' logf may differ in the last bit: a caller that must match another
// backend treats near ties as undecided.
PAGEDINFER_HD inline uint64_t raceKey(uint64_t seed, uint64_t outputIndex) {
  return splitmix64(seed ^ splitmix64(outputIndex + 0x2545f4914f6cdd1dull));
}

PAGEDINFER_HD inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  return x ^ (x >> 16);
}

PAGEDINFER_HD inline float raceGumbel(uint64_t key, uint32_t token) {
  const uint32_t x = mix32(mix32(token ^ uint32_t(key)) ^ uint32_t(key >> 32));
  const float u = (float(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
  return -logf(-logf(u));
}

}  // namespace pagedinfer
