// Block-level building blocks of the sampler (one CTA per logit row): reductions, scans, a
// bitonic sort of 64-bit keys in shared memory, the order key of a logit, and a streaming loop over
// a row with several 16-byte loads in flight per thread.
#pragma once
#include <cstdint>

#include "cuda_common.cuh"

namespace pagedinfer::cuda {

constexpr int kNone = 0x7fffffff;  // "no token yet" in arg-max reductions (larger than any id)

// Sort key of (value x, token id) such that ascending keys are the CPU sampler's order: higher
// value first, lower id first among equal values.
__device__ __forceinline__ uint64_t orderKey(float x, int id) {
  uint32_t u = __float_as_uint(x);
  uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t(~ascending) << 32) | uint32_t(id);
}
__device__ __forceinline__ float keyValue(uint64_t key) {
  uint32_t ascending = ~uint32_t(key >> 32);
  return __uint_as_float((ascending & 0x80000000u) ? (ascending & 0x7fffffffu) : ~ascending);
}
__device__ __forceinline__ int keyId(uint64_t key) { return int(uint32_t(key)); }

// Online log-sum-exp: (m, s) with s = sum of w * exp(l - m) over the values seen, m their max
// (w = 1 for a logit; a sum already relative to its own max l for a group of them).
__device__ __forceinline__ void onlineLse(float l, float& m, float& s, float w = 1.0f) {
  if (l > m) {
    s = s * __expf(m - l) + w;
    m = l;
  } else if (l > -INFINITY) {
    s += w * __expf(l - m);
  }
}

// Whether 16-byte loads may read p (a row of an odd vocabulary starts anywhere).
__device__ __forceinline__ bool aligned16(const float* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Calls f(index, value) for every element of row[0, n), four 16-byte loads in flight per thread.
template <int THREADS, typename F>
__device__ __forceinline__ void forEachLogit(const float* __restrict__ row, int n, F&& f) {
  if ((n & 3) == 0 && aligned16(row)) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    const int n4 = n >> 2;
    int v = threadIdx.x;
    for (; v + 3 * THREADS < n4; v += 4 * THREADS) {
      const float4 a = __ldg(r4 + v), b = __ldg(r4 + v + THREADS), c = __ldg(r4 + v + 2 * THREADS),
                   d = __ldg(r4 + v + 3 * THREADS);
      const float4 all[4] = {a, b, c, d};
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const int i = 4 * (v + k * THREADS);
        f(i, all[k].x);
        f(i + 1, all[k].y);
        f(i + 2, all[k].z);
        f(i + 3, all[k].w);
      }
    }
    for (; v < n4; v += THREADS) {
      const float4 a = __ldg(r4 + v);
      f(4 * v, a.x);
      f(4 * v + 1, a.y);
      f(4 * v + 2, a.z);
      f(4 * v + 3, a.w);
    }
  } else {
    for (int i = threadIdx.x; i < n; i += THREADS) f(i, __ldg(row + i));
  }
}

template <typename T, typename Op>
__device__ __forceinline__ T warpReduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduction over the block; every thread gets the result. `scratch` holds THREADS / 32 values.
template <int THREADS, typename T, typename Op>
__device__ __forceinline__ T blockReduce(T v, Op op, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpReduce(v, op);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T r = scratch[0];
#pragma unroll
  for (int w = 1; w < THREADS / 32; w++) r = op(r, scratch[w]);
  return r;
}

// Exclusive prefix sum over the block of one value per thread; `scratch` holds THREADS / 32.
template <int THREADS, typename T>
__device__ __forceinline__ T blockExclusiveScan(T v, T* scratch, T* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T inc = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    T n = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += n;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  T before = T(0), all = T(0);
#pragma unroll
  for (int w = 0; w < THREADS / 32; w++) {
    if (w < warp) before += scratch[w];
    all += scratch[w];
  }
  *total = all;
  return before + inc - v;
}

// In-place inclusive prefix sum of a[0, n) (n a multiple of THREADS), consecutive chunks per thread.
template <int THREADS, typename T>
__device__ __forceinline__ void blockInclusiveScanArray(T* a, int n, T* scratch) {
  const int per = n / THREADS, base = threadIdx.x * per;
  T sum = T(0);
  for (int i = 0; i < per; i++) sum += a[base + i];
  T total;
  T run = blockExclusiveScan<THREADS>(sum, scratch, &total);
  for (int i = 0; i < per; i++) {
    run += a[base + i];
    a[base + i] = run;
  }
  __syncthreads();
}

// Ascending bitonic sort of keys[0, n), n a power of two.
template <int THREADS>
__device__ __forceinline__ void bitonicSort(uint64_t* keys, int n) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int i = threadIdx.x; i < n / 2; i += THREADS) {
        const int lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
        const bool ascending = (lo & size) == 0;
        const uint64_t a = keys[lo], b = keys[hi];
        if ((a > b) == ascending) {
          keys[lo] = b;
          keys[hi] = a;
        }
      }
    }
  }
  __syncthreads();
}

}  // namespace pagedinfer::cuda
