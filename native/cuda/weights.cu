// Weight-side kernels: float32 -> bf16 on upload, the Q8_0 repack, device-generated random
// weights, dequantization of row ranges to bf16 (the prefill GEMM of quantized weights), and the
// embedding lookup. All are memory-bound one-pass kernels: a thread per element, per 32-element
// group, or per 16-byte vector, with grid-stride loops so any size launches with a bounded grid.
#include <type_traits>

#include "../core/random.h"
#include "cuda_check.h"
#include "kernels.h"
#include "quant_device.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kThreads = 256;

int gridFor(int64_t work, int threads = kThreads) {
  int64_t blocks = (work + threads - 1) / threads;
  return int(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

__global__ void convertF32ToBf16Kernel(const float* __restrict__ src, bf16* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

// One thread per 32-element block: quants to the row's front, the half scale to its tail.
__global__ void repackQ8_0Kernel(const uint8_t* __restrict__ raw, uint8_t* __restrict__ dst, int64_t rows, int64_t K) {
  const int64_t groups = K / 32, rowBytes = groups * 34, total = rows * groups;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / groups, g = i % groups;
    const uint8_t* b = raw + i * 34;
    uint8_t* row = dst + r * rowBytes;
    for (int j = 0; j < 32; j++) row[32 * g + j] = b[2 + j];
    row[K + 2 * g] = b[0];
    row[K + 2 * g + 1] = b[1];
  }
}

// The same values as CpuBackend::randomWeight: the counter RNG of core/random.h per element index.
template <typename T>
__global__ void randomWeightKernel(T* __restrict__ dst, int64_t n, uint64_t seed, float offset, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float value = offset + scale * float(2.0 * uniform01(seed, uint64_t(i)) - 1.0);
    if constexpr (sizeof(T) == 4) dst[i] = value;
    else if constexpr (std::is_same_v<T, __half>) dst[i] = __float2half_rn(value);
    else dst[i] = __float2bfloat16_rn(value);
  }
}

// One thread per 32-element group of the weight; 64 bytes of bf16 written as four 16-byte stores.
__global__ void dequantRowsKernel(int type, const uint8_t* __restrict__ w, int64_t rows, int64_t K, int64_t rowBytes,
                                  bf16* __restrict__ dst) {
  const int64_t groups = K / 32, total = rows * groups;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / groups, g = i % groups;
    float y[32];
    dequantGroup32(type, w + r * rowBytes, K, g, y);
    uint4* o = reinterpret_cast<uint4*>(dst + r * K + 32 * g);
#pragma unroll
    for (int v = 0; v < 4; v++) o[v] = packBf16x8(y + 8 * v);
  }
}

// A block per token. bf16 rows are copied with 16-byte vectors; other types are dequantized a
// group per thread (K % 32 == 0 for quantized types by construction; plain halves of any width
// take the scalar loop).
__global__ void embeddingKernel(bf16* __restrict__ out, const int32_t* __restrict__ tokenIds, const uint8_t* __restrict__ table,
                                int type, int64_t K, int64_t rowBytes) {
  const int t = blockIdx.x;
  const uint8_t* row = table + int64_t(tokenIds[t]) * rowBytes;
  bf16* o = out + int64_t(t) * K;
  if (type == kBF16 && K % 8 == 0) {
    for (int64_t v = threadIdx.x; v < K / 8; v += blockDim.x)
      reinterpret_cast<uint4*>(o)[v] = reinterpret_cast<const uint4*>(row)[v];
  } else if (K % 32 == 0) {
    for (int64_t g = threadIdx.x; g < K / 32; g += blockDim.x) {
      float y[32];
      dequantGroup32(type, row, K, g, y);
#pragma unroll
      for (int j = 0; j < 32; j++) o[32 * g + j] = __float2bfloat16_rn(y[j]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      float f = type == kF16 ? __half2float(reinterpret_cast<const __half*>(row)[i])
              : type == kF32 ? reinterpret_cast<const float*>(row)[i]
                             : __bfloat162float(reinterpret_cast<const bf16*>(row)[i]);
      o[i] = __float2bfloat16_rn(f);
    }
  }
}

}  // namespace

void launchConvertF32ToBf16(const float* src, uint16_t* dst, int64_t n, cudaStream_t stream) {
  convertF32ToBf16Kernel<<<gridFor(n), kThreads, 0, stream>>>(src, reinterpret_cast<bf16*>(dst), n);
  CUDA_CHECK_LAUNCH("convertF32ToBf16");
}

void launchRepackQ8_0(const uint8_t* raw, uint8_t* dst, int64_t rows, int64_t K, cudaStream_t stream) {
  repackQ8_0Kernel<<<gridFor(rows * (K / 32)), kThreads, 0, stream>>>(raw, dst, rows, K);
  CUDA_CHECK_LAUNCH("repackQ8_0");
}

void launchRandomWeight(void* dst, DType dtype, int64_t n, uint64_t seed, float offset, float scale, cudaStream_t stream) {
  const int grid = gridFor(n);
  if (dtype == DType::F32)
    randomWeightKernel<float><<<grid, kThreads, 0, stream>>>(static_cast<float*>(dst), n, seed, offset, scale);
  else if (dtype == DType::F16)
    randomWeightKernel<__half><<<grid, kThreads, 0, stream>>>(static_cast<__half*>(dst), n, seed, offset, scale);
  else
    randomWeightKernel<bf16><<<grid, kThreads, 0, stream>>>(static_cast<bf16*>(dst), n, seed, offset, scale);
  CUDA_CHECK_LAUNCH("randomWeight");
}

void launchDequantRows(DType dtype, const uint8_t* w, int64_t rows, int64_t K, uint16_t* dst, cudaStream_t stream) {
  dequantRowsKernel<<<gridFor(rows * (K / 32)), kThreads, 0, stream>>>(int(dtype), w, rows, K, dtypeRowBytes(dtype, K),
                                                                        reinterpret_cast<bf16*>(dst));
  CUDA_CHECK_LAUNCH("dequantRows");
}

void launchEmbedding(uint16_t* out, const int32_t* tokenIds, int numTokens, const void* table, DType dtype, int64_t K,
                     cudaStream_t stream) {
  if (numTokens == 0) return;
  embeddingKernel<<<numTokens, 128, 0, stream>>>(reinterpret_cast<bf16*>(out), tokenIds, static_cast<const uint8_t*>(table),
                                                 int(dtype), K, dtypeRowBytes(dtype, K));
  CUDA_CHECK_LAUNCH("embedding");
}

}  // namespace pagedinfer::cuda
