// The id-order draw (core/sampler.h's walksById rows: no top-k, top-p or min-p) inside the sampler
// kernel, so that these rows cost one read of the row beside the other rows of a batch instead of
// the sorted walk's histogram and window reads (docs/cuda-kernels.md S8, S9).
//
// Each warp takes whole segments of kWalkSegment ids (16 values a lane, all loads in flight
// together): the segment's largest x and its integer weight sum(q) go to shared memory. The block
// then weighs the segments against the row's top, finds the segment holding the target with one
// scan, and warp 0 re-reads that segment to find the token. Every weight is an integer computed
// from the same float operations as core/sampler.cpp's, so the token is the CPU sampler's.
#pragma once
#include "../core/sampler.h"
#include "sampling_resolve.cuh"

namespace pagedinfer::cuda::sampler {

constexpr int kWalkPerLane = kWalkSegment / 32;

// The walk's shared memory: the segments' sums (units of 2^-40 of each segment's largest x), then
// their maxima. They stay there after walkRow returns.
__device__ __forceinline__ size_t walkSmemBytes(int segments) { return size_t(segments) * (8 + 4); }
__device__ __forceinline__ unsigned long long* walkSegmentSums(uint8_t* smem) {
  return reinterpret_cast<unsigned long long*>(smem);
}
__device__ __forceinline__ float* walkSegmentMaxima(uint8_t* smem, int segments) {
  return reinterpret_cast<float*>(smem + size_t(segments) * 8);
}

// Draws the row: returns the token, or -1 when the row's top is not finite or its segments'
// (sum, max) do not fit in `smemBytes` (the host redoes those rows). `scaled(i, l)` is x
// (penalties, then 1/T, rounded as the CPU's), `raw(i, l)` sees every raw logit once. `smem`: free
// shared memory (16-byte aligned), laid out as above. All threads call it.
template <typename Scaled, typename Raw>
__device__ int walkRow(const float* __restrict__ lg, int vocab, double u, const Scaled& scaled, const Raw& raw,
                       uint8_t* smem, size_t smemBytes, Scratch& sc) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int segments = (vocab + kWalkSegment - 1) / kWalkSegment;
  if (walkSmemBytes(segments) > smemBytes) return -1;  // block-uniform
  unsigned long long* segSum = walkSegmentSums(smem);
  float* segMax = walkSegmentMaxima(smem, segments);
  const auto maxOp = [](float a, float b) { return fmaxf(a, b); };
  const auto addOp = [](unsigned long long a, unsigned long long b) { return a + b; };
  if (tid == 0) sc.found = -1;
  float top = -INFINITY;
  for (int s = warp; s < segments; s += kThreads / 32) {
    const int base = s * kWalkSegment;
    float x[kWalkPerLane];
    if (aligned16(lg) && base + kWalkSegment <= vocab) {  // segments are 2 KB: all aligned if the row is
      const float4* r4 = reinterpret_cast<const float4*>(lg + base);
      float4 v[kWalkPerLane / 4];
#pragma unroll
      for (int k = 0; k < kWalkPerLane / 4; k++) v[k] = __ldg(r4 + k * 32 + lane);
#pragma unroll
      for (int k = 0; k < kWalkPerLane / 4; k++) {
        const int i = base + k * 128 + lane * 4;
        const float l[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
#pragma unroll
        for (int j = 0; j < 4; j++) {
          raw(i + j, l[j]);
          x[4 * k + j] = scaled(i + j, l[j]);
        }
      }
    } else {
#pragma unroll
      for (int k = 0; k < kWalkPerLane; k++) {
        const int i = base + k * 32 + lane;
        x[k] = i < vocab ? __ldg(lg + i) : NAN;
      }
#pragma unroll
      for (int k = 0; k < kWalkPerLane; k++) {
        const int i = base + k * 32 + lane;
        if (i < vocab) {
          raw(i, x[k]);
          x[k] = scaled(i, x[k]);
        }
      }
    }
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < kWalkPerLane; k++) m = fmaxf(m, x[k]);  // NaN ignored, as the CPU's fmax
    m = warpReduce(m, maxOp);
    unsigned long long sum = 0;
#pragma unroll
    for (int k = 0; k < kWalkPerLane; k++) sum += walkTokenWeight(x[k], m);  // NaN weighs 0
    sum = warpReduce(sum, addOp);
    if (lane == 0) {
      segSum[s] = sum;
      segMax[s] = m;
    }
    top = fmaxf(top, m);
  }
  top = blockReduce<kThreads>(top, maxOp, sc.redF);  // its barriers also publish segSum / segMax
  if (!(fabsf(top) < INFINITY)) return -1;

  // The segments a thread weighs: a contiguous run, so that one exclusive scan orders them by id.
  const int per = (segments + kThreads - 1) / kThreads, s0 = min(segments, tid * per), s1 = min(segments, s0 + per);
  unsigned long long own = 0;
  for (int s = s0; s < s1; s++) own += walkSegmentWeight(segSum[s], segMax[s], top);
  unsigned long long total;
  unsigned long long run = blockExclusiveScan<kThreads>(own, sc.redU, &total);
  const unsigned long long target = walkRowTarget(u, total);
  if (run <= target && target < run + own) {
    for (int s = s0; s < s1; s++) {
      const unsigned long long w = walkSegmentWeight(segSum[s], segMax[s], top);
      if (target < run + w) {
        sc.found = s;
        sc.walkTarget = walkSegmentTarget(target - run, w, segSum[s]);
        break;
      }
      run += w;
    }
  }
  __syncthreads();
  const int s = sc.found;
  if (warp == 0 && s >= 0) {
    const int base = s * kWalkSegment;
    const float m = segMax[s];
    const unsigned long long t = sc.walkTarget;
    float l[kWalkPerLane];  // all loads in flight, the weights made one at a time
#pragma unroll
    for (int k = 0; k < kWalkPerLane; k++) {
      const int i = base + k * 32 + lane;
      l[k] = i < vocab ? __ldg(lg + i) : 0.0f;
    }
    unsigned long long before = 0;
    int token = -1;
#pragma unroll
    for (int k = 0; k < kWalkPerLane; k++) {
      const int i = base + k * 32 + lane;
      unsigned long long incl = i < vocab ? walkTokenWeight(scaled(i, l[k]), m) : 0ull;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const unsigned long long v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
      }
      const unsigned passed = __ballot_sync(0xffffffffu, before + incl > t);
      if (token < 0 && passed) token = base + k * 32 + __ffs(passed) - 1;
      before += __shfl_sync(0xffffffffu, incl, 31);
    }
    if (lane == 0) sc.walkToken = token;
  }
  __syncthreads();
  return s >= 0 ? sc.walkToken : -1;
}

}  // namespace pagedinfer::cuda::sampler
