// The CPU's hot loops, compiled once per instruction set (native/cpu/simd_kernels.cpp is built
// three times on x86-64: AVX-512, AVX2+FMA+F16C, baseline; see CMakeLists.txt) and chosen at run
// time by the features of the CPU, so one prebuilt binary is fast on every x86-64 machine.
#pragma once
#include <cstdint>

namespace pagedinfer::simd {

// out[t * ldOut + r] = x[t] . w[row0 + r] for T tokens (rows of x, K floats each) and nRows
// consecutive weight rows of K elements in the given storage.
using DotTileFn = void (*)(const float* x, int64_t T, int64_t K, const void* w, int64_t row0, int nRows, float* out,
                           int64_t ldOut);

// Attention of one query head over ctx cached positions read through a block table.
using AttendFn = void (*)(float* out, const float* q, const float* kc, const float* vc, const int32_t* blockTable,
                          int blockSize, int ctx, int kvStride, int headDim, float scale, float* scores);

struct Kernels {
  const char* level;
  DotTileFn dotTileF32;
  DotTileFn dotTileBF16;
  DotTileFn dotTileF16;
  AttendFn attend;
};

// The best compilation this CPU runs.
const Kernels& best();

namespace avx512 { const Kernels& kernels(); }
namespace avx2 { const Kernels& kernels(); }
namespace baseline { const Kernels& kernels(); }

}  // namespace pagedinfer::simd
