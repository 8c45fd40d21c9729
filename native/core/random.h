// Counter-based random numbers: a value depends only on (seed, counter), never on what else ran,
// so a request's sampled tokens do not change with how it was batched, and every backend draws
// the same numbers.
#pragma once
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

}  // namespace pagedinfer
