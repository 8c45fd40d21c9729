// Matrix-vector products for decode: out[t] = W x[t] (+ bias) for T <= 8 tokens, reading W once.
// Decode is bound by the bytes of W, so a warp owns one output row and streams it with 16-byte
// loads while the few x rows stay in L1/L2; every loaded weight serves all T tokens. bf16/f16
// rows take gemv_dense.cu. Quantized rows are dequantized in registers here: Q8_0 (repacked, see
// quant_device.cuh) and Q4_K have dedicated loops with 16-byte quant loads; other types go a
// 32-element group per lane through dequantGroup32. Accumulation is float; the warp reduces each
// token's sum at the end.
#include "cuda_check.h"
#include "gemv_common.cuh"
#include "kernels.h"
#include "quant_device.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kWarps = kGemvWarps;

// Q8_0 in the repacked layout: a lane takes a 32-element group (two 16-byte quant loads + scale).
template <int TMAX, bool OUT_F32>
__global__ void __launch_bounds__(kWarps * 32) gemvQ8_0Kernel(const uint8_t* __restrict__ w, const bf16* __restrict__ x,
                                                              const float* __restrict__ bias, void* __restrict__ out,
                                                              int64_t K, int64_t N, int64_t ldOut, int T) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N) return;
  const int64_t groups = K / 32;
  const uint8_t* row = w + n * groups * 34;
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; t++) acc[t] = 0.0f;
#pragma unroll 4
  for (int64_t g = lane; g < groups; g += 32) {
    const uint4* qp = reinterpret_cast<const uint4*>(row + 32 * g);
    uint4 q[2] = {__ldcs(qp), __ldcs(qp + 1)};
    const float d = __half2float(__ldg(reinterpret_cast<const __half*>(row + K) + g));
    float qf[32];
    const uint32_t* words = reinterpret_cast<const uint32_t*>(q);
#pragma unroll
    for (int j = 0; j < 32; j++) qf[j] = float(int8_t(words[j / 4] >> (8 * (j % 4))));
#pragma unroll
    for (int t = 0; t < TMAX; t++) {
      if (t < T) {
        float s = 0.0f, xf[8];
#pragma unroll
        for (int v = 0; v < 4; v++) {
          loadX8(x, K, t, 4 * g + v, xf);
#pragma unroll
          for (int j = 0; j < 8; j++) s = fmaf(qf[8 * v + j], xf[j], s);
        }
        acc[t] = fmaf(d, s, acc[t]);
      }
    }
  }
  storeRow<TMAX, OUT_F32>(out, ldOut, n, acc, T, bias);
}

// Q4_K: a super-block (256 elements, 144 bytes) is eight 16-byte pieces of quants; a lane takes
// one piece = 16 low nibbles of sub-block 2j and 16 high nibbles of sub-block 2j+1. The two
// (scale, min) pairs turn sum(q * x) and sum(x) into the dot product without dequantizing.
template <int TMAX, bool OUT_F32>
__global__ void __launch_bounds__(kWarps * 32) gemvQ4_KKernel(const uint8_t* __restrict__ w, const bf16* __restrict__ x,
                                                              const float* __restrict__ bias, void* __restrict__ out,
                                                              int64_t K, int64_t N, int64_t ldOut, int T) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N) return;
  const int64_t pieces = K / 256 * 8;
  const uint8_t* row = w + n * (K / 256) * 144;
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; t++) acc[t] = 0.0f;
#pragma unroll 4
  for (int64_t p = lane; p < pieces; p += 32) {
    const int64_t sb = p >> 3;
    const int pc = int(p & 7), j = pc >> 1;
    const uint8_t* base = row + 144 * sb;
    const uint4 qv = __ldcs(reinterpret_cast<const uint4*>(base + 16 + 16 * pc));
    int sc1, m1, sc2, m2;
    kScaleMin(2 * j, base + 4, sc1, m1);
    kScaleMin(2 * j + 1, base + 4, sc2, m2);
    const float d = loadHalf(base), dmin = loadHalf(base + 2);
    const float d1 = d * float(sc1), mn1 = dmin * float(m1), d2 = d * float(sc2), mn2 = dmin * float(m2);
    const uint32_t* words = reinterpret_cast<const uint32_t*>(&qv);
    float lo[16], hi[16];
#pragma unroll
    for (int i = 0; i < 16; i++) {
      uint32_t b = (words[i / 4] >> (8 * (i % 4))) & 0xFF;
      lo[i] = float(b & 0xF);
      hi[i] = float(b >> 4);
    }
    const int64_t e = 256 * sb + 64 * j + 16 * (pc & 1);  // first low-nibble element; high ones at e + 32
#pragma unroll
    for (int t = 0; t < TMAX; t++) {
      if (t < T) {
        float sLo = 0, sxLo = 0, sHi = 0, sxHi = 0, xf[8];
#pragma unroll
        for (int v = 0; v < 2; v++) {
          loadX8(x, K, t, e / 8 + v, xf);
#pragma unroll
          for (int i = 0; i < 8; i++) {
            sLo = fmaf(lo[8 * v + i], xf[i], sLo);
            sxLo += xf[i];
          }
          loadX8(x, K, t, (e + 32) / 8 + v, xf);
#pragma unroll
          for (int i = 0; i < 8; i++) {
            sHi = fmaf(hi[8 * v + i], xf[i], sHi);
            sxHi += xf[i];
          }
        }
        acc[t] += d1 * sLo - mn1 * sxLo + d2 * sHi - mn2 * sxHi;
      }
    }
  }
  storeRow<TMAX, OUT_F32>(out, ldOut, n, acc, T, bias);
}

// Any type with K % 32 == 0: a lane dequantizes one 32-element group at a time.
template <int TMAX, bool OUT_F32>
__global__ void __launch_bounds__(kWarps * 32) gemvGenericKernel(int type, const uint8_t* __restrict__ w, int64_t rowBytes,
                                                                 const bf16* __restrict__ x, const float* __restrict__ bias,
                                                                 void* __restrict__ out, int64_t K, int64_t N,
                                                                 int64_t ldOut, int T) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N) return;
  const uint8_t* row = w + n * rowBytes;
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; t++) acc[t] = 0.0f;
  for (int64_t g = lane; g < K / 32; g += 32) {
    float y[32];
    dequantGroup32(type, row, K, g, y);
#pragma unroll
    for (int t = 0; t < TMAX; t++) {
      if (t < T) {
        float xf[8];
#pragma unroll
        for (int v = 0; v < 4; v++) {
          loadX8(x, K, t, 4 * g + v, xf);
#pragma unroll
          for (int i = 0; i < 8; i++) acc[t] = fmaf(y[8 * v + i], xf[i], acc[t]);
        }
      }
    }
  }
  storeRow<TMAX, OUT_F32>(out, ldOut, n, acc, T, bias);
}

// Plain-float weights of any width (K not a multiple of 8): one element per lane per step.
template <int TMAX, bool OUT_F32>
__global__ void __launch_bounds__(kWarps * 32) gemvScalarKernel(int type, const uint8_t* __restrict__ w,
                                                                const bf16* __restrict__ x, const float* __restrict__ bias,
                                                                void* __restrict__ out, int64_t K, int64_t N,
                                                                int64_t ldOut, int T) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (n >= N) return;
  float acc[TMAX];
#pragma unroll
  for (int t = 0; t < TMAX; t++) acc[t] = 0.0f;
  for (int64_t k = lane; k < K; k += 32) {
    const int64_t i = n * K + k;
    float wv = type == kF32 ? reinterpret_cast<const float*>(w)[i]
             : type == kF16 ? __half2float(reinterpret_cast<const __half*>(w)[i])
                            : __bfloat162float(reinterpret_cast<const bf16*>(w)[i]);
#pragma unroll
    for (int t = 0; t < TMAX; t++)
      if (t < T) acc[t] = fmaf(wv, __bfloat162float(x[t * K + k]), acc[t]);
  }
  storeRow<TMAX, OUT_F32>(out, ldOut, n, acc, T, bias);
}

template <int TMAX, bool OUT_F32>
void dispatch(void* out, int64_t ldOut, const bf16* x, int T, int64_t K, const void* w, DType dtype, int64_t N,
              const float* bias, cudaStream_t stream) {
  const dim3 grid(unsigned((N + kWarps - 1) / kWarps)), block(kWarps * 32);
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  switch (dtype) {
    case DType::BF16:
    case DType::F16:
      if (K % 8 == 0) {
        GemvSegments segs;
        segs.s[0] = GemvSegment{w, out, bias, N, ldOut};
        segs.count = 1;
        launchGemvDense(segs, OUT_F32, reinterpret_cast<const uint16_t*>(x), T, K, dtype, stream);
        return;
      }
      gemvScalarKernel<TMAX, OUT_F32><<<grid, block, 0, stream>>>(int(dtype), wb, x, bias, out, K, N, ldOut, T);
      return;
    case DType::F32:
      gemvScalarKernel<TMAX, OUT_F32><<<grid, block, 0, stream>>>(int(dtype), wb, x, bias, out, K, N, ldOut, T);
      return;
    case DType::Q8_0:
      if (K % 256 == 0) {
        gemvQ8_0Kernel<TMAX, OUT_F32><<<grid, block, 0, stream>>>(wb, x, bias, out, K, N, ldOut, T);
        return;
      }
      break;
    case DType::Q4_K:
      if (K % 256 == 0) {
        gemvQ4_KKernel<TMAX, OUT_F32><<<grid, block, 0, stream>>>(wb, x, bias, out, K, N, ldOut, T);
        return;
      }
      break;
    default:
      break;
  }
  gemvGenericKernel<TMAX, OUT_F32><<<grid, block, 0, stream>>>(int(dtype), wb, dtypeRowBytes(dtype, K), x, bias, out, K, N,
                                                               ldOut, T);
}

}  // namespace

void launchGemv(void* out, bool outF32, int64_t ldOut, const uint16_t* x, int T, int64_t K, const void* w, DType dtype,
                int64_t N, const float* bias, cudaStream_t stream) {
  if (T <= 0 || N <= 0) return;
  const bf16* xb = reinterpret_cast<const bf16*>(x);
#define PAGEDINFER_GEMV(TM)                                                        \
  if (outF32) dispatch<TM, true>(out, ldOut, xb, T, K, w, dtype, N, bias, stream); \
  else dispatch<TM, false>(out, ldOut, xb, T, K, w, dtype, N, bias, stream);
  if (T == 1) {
    PAGEDINFER_GEMV(1)
  } else if (T == 2) {
    PAGEDINFER_GEMV(2)
  } else if (T <= 4) {
    PAGEDINFER_GEMV(4)
  } else {
    PAGEDINFER_GEMV(8)
  }
#undef PAGEDINFER_GEMV
  CUDA_CHECK_LAUNCH("gemv");
}

}  // namespace pagedinfer::cuda
