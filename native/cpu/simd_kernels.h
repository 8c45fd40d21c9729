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

// Quantized weights multiply int8 by int8: activations are quantized to 8 bits per 32-element
// block (scale da, sum sa of the int8 values), weight rows are unpacked to int8 with a float
// scale per 16 elements and, for K-quants, a float min per 32, so every weight type reduces to
//   row . x = sum_b da[b] * (scale[2b] * q.qa over the first 16 + scale[2b+1] * ... the next 16)
//             - sum_b min[b] * da[b] * sa[b].
using QuantizeActFn = void (*)(const float* x, int64_t K, int8_t* qa, float* da, int32_t* sa);
using UnpackFn = void (*)(const void* row, int64_t K, int8_t* q, float* scale16, float* min32);
// out[t * ldOut + r] for T quantized activation rows and nRows unpacked weight rows; min32 is
// null for types without mins (all but the K-quants with mins, Q4_K and Q5_K).
using DotTileQFn = void (*)(const int8_t* qa, const float* da, const int32_t* sa, int64_t T, int64_t K, const int8_t* qw,
                            const float* scale16, const float* min32, int nRows, float* out, int64_t ldOut);

struct QuantKernels {
  QuantizeActFn quantizeAct;
  UnpackFn unpackQ8_0, unpackQ4_0, unpackQ4_K, unpackQ5_K, unpackQ6_K;
  DotTileQFn dotTile;
};

struct Kernels {
  const char* level;
  DotTileFn dotTileF32;
  DotTileFn dotTileBF16;
  DotTileFn dotTileF16;
  AttendFn attend;
  QuantKernels quant;
};

// The best compilation this CPU runs.
const Kernels& best();

namespace avx512 { const Kernels& kernels(); }
namespace avx2 { const Kernels& kernels(); }
namespace baseline { const Kernels& kernels(); }

}  // namespace pagedinfer::simd
