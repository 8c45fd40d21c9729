#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "simd_kernels.h"

namespace pagedinfer::simd {

namespace {

bool supports(const char* level) {
#if defined(__x86_64__) && defined(PAGEDINFER_SIMD_VARIANTS)
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (std::strcmp(level, "avx512") == 0)
    // With VNNI (Cascade Lake, Ice Lake and later, Zen 4): the quantized dots are built on it;
    // Skylake-X's AVX-512 without it runs the AVX2 set.
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  if (std::strcmp(level, "avx2") == 0) return avx2;
#endif
  return std::strcmp(level, "baseline") == 0;
}

const Kernels& byName(const char* level) {
#if defined(__x86_64__) && defined(PAGEDINFER_SIMD_VARIANTS)
  if (std::strcmp(level, "avx512") == 0) return avx512::kernels();
  if (std::strcmp(level, "avx2") == 0) return avx2::kernels();
#endif
  return baseline::kernels();
}

}  // namespace

const Kernels& best() {
  static const Kernels& chosen = []() -> const Kernels& {
    // PAGEDINFER_SIMD=baseline|avx2|avx512 forces a lower set (tests of every variant, debugging).
    const char* forced = std::getenv("PAGEDINFER_SIMD");
    if (forced && supports(forced)) return byName(forced);
    for (const char* level : {"avx512", "avx2"})
      if (supports(level)) return byName(level);
    return baseline::kernels();
  }();
  return chosen;
}

}  // namespace pagedinfer::simd
