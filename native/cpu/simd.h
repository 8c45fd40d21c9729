// Function multi-versioning: hot loops are compiled for AVX-512, AVX2+FMA and baseline x86-64,
// and the loader picks the best the running CPU supports (so one prebuilt binary is fast
// everywhere). The loops are written so the compiler vectorizes them: fixed-width partial sums.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define PAGEDINFER_SIMD_CLONES __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#else
#define PAGEDINFER_SIMD_CLONES
#endif
