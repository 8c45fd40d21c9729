// SwiGLU and the bias add: one pass over the data, 16-byte vectors when the size allows.
#include "cuda_check.h"
#include "cuda_common.cuh"
#include "kernels.h"

namespace pagedinfer::cuda {

namespace {

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

// out[r][c] (rows packed) = silu(gate[r * ld + c]) * up[r * ld + c]: gate and up as separate
// packed buffers (ld = cols, or one row of all values), or side by side in the fused gate/up
// GEMM's output (up = gate + cols, ld = 2 cols). `out` may alias a packed `gate` (the model
// computes gate = silu(gate) * up in place): each thread reads its own elements before writing them.
__global__ void swigluVec8Kernel(bf16* out, const bf16* gate, const bf16* __restrict__ up, int64_t rows, int64_t cols,
                                 int64_t ld) {
  const int64_t perRow = cols / 8, vectors = rows * perRow;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < vectors; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / perRow, c = 8 * (i % perRow);
    float g[8], u[8];
    unpackBf16x8(*reinterpret_cast<const uint4*>(gate + r * ld + c), g);
    unpackBf16x8(*reinterpret_cast<const uint4*>(up + r * ld + c), u);
#pragma unroll
    for (int j = 0; j < 8; j++) g[j] = silu(g[j]) * u[j];
    *reinterpret_cast<uint4*>(out + r * cols + c) = packBf16x8(g);
  }
}

__global__ void swigluScalarKernel(bf16* out, const bf16* gate, const bf16* __restrict__ up, int64_t rows, int64_t cols,
                                   int64_t ld) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * cols; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    out[i] = __float2bfloat16_rn(silu(__bfloat162float(gate[r * ld + c])) * __bfloat162float(up[r * ld + c]));
  }
}

template <typename T>
__global__ void addBiasKernel(T* out, int64_t T_, int64_t N, int64_t ld, const float* __restrict__ bias) {
  const int64_t total = T_ * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / N, n = i % N;
    if constexpr (sizeof(T) == 4) out[t * ld + n] += bias[n];
    else out[t * ld + n] = __float2bfloat16_rn(__bfloat162float(out[t * ld + n]) + bias[n]);
  }
}

int gridFor(int64_t work) {
  int64_t blocks = (work + 255) / 256;
  return int(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace

void launchSwiglu(uint16_t* out, const uint16_t* gate, const uint16_t* up, int64_t rows, int64_t cols, int64_t ld,
                  cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  bf16* o = reinterpret_cast<bf16*>(out);
  const bf16* g = reinterpret_cast<const bf16*>(gate);
  const bf16* u = reinterpret_cast<const bf16*>(up);
  const bool vec = cols % 8 == 0 && ld % 8 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(gate) % 16 == 0 && reinterpret_cast<uintptr_t>(up) % 16 == 0;
  if (vec) swigluVec8Kernel<<<gridFor(rows * cols / 8), 256, 0, stream>>>(o, g, u, rows, cols, ld);
  else swigluScalarKernel<<<gridFor(rows * cols), 256, 0, stream>>>(o, g, u, rows, cols, ld);
  CUDA_CHECK_LAUNCH("swiglu");
}

void launchAddBias(void* out, bool outF32, int64_t T, int64_t N, int64_t ldOut, const float* bias, cudaStream_t stream) {
  if (T <= 0 || N <= 0) return;
  if (outF32) addBiasKernel<float><<<gridFor(T * N), 256, 0, stream>>>(static_cast<float*>(out), T, N, ldOut, bias);
  else addBiasKernel<bf16><<<gridFor(T * N), 256, 0, stream>>>(static_cast<bf16*>(out), T, N, ldOut, bias);
  CUDA_CHECK_LAUNCH("addBias");
}

}  // namespace pagedinfer::cuda
