// The sampler's windows and resolution step (sampling.cu). Windows: the bins around each cut point,
// read off a cumulative histogram of the row. Resolution: given candidates sorted in the CPU sampler's order
// (value desc, id asc) that cover some value windows, and the exact count and mass of what lies in
// the gaps between them, find the top-k cut, the top-p cut and the drawn token exactly as
// core/sampler.cpp does, with double cumulative masses. A cut that falls inside a gap cannot be
// placed: the caller then tries a wider search or hands the row to the host.
#pragma once
#include "sampling.h"
#include "sampling_block.cuh"

namespace pagedinfer::cuda::sampler {

#ifndef PAGEDINFER_SAMPLE_THREADS
#define PAGEDINFER_SAMPLE_THREADS 512
#endif
// One CTA per row. 512 threads give more loads in flight; 256 leave each thread more registers
// (chosen by measurement: docs/cuda-kernels.md).
constexpr int kThreads = PAGEDINFER_SAMPLE_THREADS, kBins = 2048, kCap = 4096, kPerThread = kCap / kThreads;
constexpr float kBinScale = 32.0f, kHeadroom = 16.0f;

// Histogram bin of a scaled logit: 1/32-wide bins below `hi`, bin 0 holding everything above.
// Monotone: a larger x never has a larger bin, so bins are contiguous ranges of the sorted order.
__device__ __forceinline__ int binOf(float x, float hi) {
  return int(fminf(fmaxf((hi - x) * kBinScale, 0.0f), float(kBins - 1)));
}

struct Windows {
  int n;
  int lo[3], hi[3];
};

// Window index (>= 0) of bin b, or -(gap + 1) for the gap it lies in (gap g is before window g).
__device__ __forceinline__ int regionOf(const Windows& w, int b) {
  int region = -1;
#pragma unroll
  for (int i = 0; i < 3; i++)
    if (i < w.n && b >= w.lo[i]) region = b <= w.hi[i] ? i : -(i + 2);
  return region;
}

// First bin b in [0, last] with cum[b] >= target (last when none).
__device__ int firstReaching(const unsigned long long* cum, int last, double target) {
  int lo = 0, hi = last;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (double(cum[mid]) >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

__device__ void addWindow(Windows& w, int lo, int hi) {
  w.lo[w.n] = lo;
  w.hi[w.n] = hi;
  w.n++;
}

__device__ void mergeWindows(Windows& w) {
  for (int i = 0; i < w.n; i++)
    for (int j = i + 1; j < w.n; j++)
      if (w.lo[j] < w.lo[i]) {
        int t = w.lo[i]; w.lo[i] = w.lo[j]; w.lo[j] = t;
        t = w.hi[i]; w.hi[i] = w.hi[j]; w.hi[j] = t;
      }
  int out = 0;
  for (int i = 0; i < w.n; i++) {
    if (out > 0 && w.lo[i] <= w.hi[out - 1] + 1) {
      w.hi[out - 1] = max(w.hi[out - 1], w.hi[i]);
    } else {
      w.lo[out] = w.lo[i];
      w.hi[out] = w.hi[i];
      out++;
    }
  }
  w.n = out;
}

// Windows around each cut, read off the cumulative histogram (thread 0). The fixed-point masses are
// approximate (fast exp, 2^-40 steps), so each window spans the bins its cut can reach under a
// 2e-5 relative error.
__device__ Windows chooseWindows(const int* cumC, const unsigned long long* cumM, int fb, const SampleRowParams& p,
                                 double u) {
  Windows w;
  w.n = 0;
  const double eps = 2e-5;
  int last = fb;
  double tLo = fb > 0 ? double(cumM[fb - 1]) : 0.0, tHi = double(cumM[fb]);
  if (p.topK > 0 && p.topK < cumC[fb]) {
    int lo = 0, hi = fb;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (cumC[mid] >= p.topK) hi = mid;
      else lo = mid + 1;
    }
    last = lo;
    tLo = lo > 0 ? double(cumM[lo - 1]) : 0.0;
    tHi = double(cumM[lo]);
    addWindow(w, lo, lo);
  }
  if (p.topP < 1.0f) {
    const int pLo = firstReaching(cumM, last, p.topP * tLo * (1.0 - eps));
    const int pHi = firstReaching(cumM, last, p.topP * tHi * (1.0 + eps));
    addWindow(w, pLo, pHi);
    last = pHi;
    tLo = pLo > 0 ? double(cumM[pLo - 1]) : 0.0;
    tHi = double(cumM[pHi]);
  }
  addWindow(w, firstReaching(cumM, last, u * tLo * (1.0 - eps)), firstReaching(cumM, last, u * tHi * (1.0 + eps)));
  mergeWindows(w);
  return w;
}

struct Scratch {
  float redF[kThreads / 32];
  double redD[kThreads / 32];
  int redI[kThreads / 32];
  unsigned long long redU[kThreads / 32];
  Windows win;
  int status, counter, found, theta, overflow, buffered;
  int gapCount[4];
  double gapMass[4];
  double total;
  unsigned long long walkTarget;  // the id-order draw (sampling_walk.cuh)
  int walkToken;
};

// cand[0, n) sorted; gap g of sc.gapCount / sc.gapMass lies before window g of w (masses relative
// to `top`). Returns the sampled token (valid when sc.status stays 0). All threads call it.
__device__ int resolveSorted(const uint64_t* cand, int n, const Windows& w, float top, float hiRef, double u,
                             const SampleRowParams& p, Scratch& sc) {
  const int tid = threadIdx.x;
  double mass[kPerThread], cumBefore[kPerThread];
  int rank[kPerThread];
  double local = 0.0;
#pragma unroll
  for (int k = 0; k < kPerThread; k++) {
    const int i = tid * kPerThread + k;
    mass[k] = 0.0;
    cumBefore[k] = 0.0;
    rank[k] = -1;
    if (i < n) {
      const float x = keyValue(cand[i]);
      const int region = regionOf(w, binOf(x, hiRef));
      double gapsAbove = 0.0;
      int countAbove = 0;
      for (int g = 0; g <= region; g++) {
        gapsAbove += sc.gapMass[g];
        countAbove += sc.gapCount[g];
      }
      mass[k] = exp(double(x) - double(top));  // as the CPU: exp(double(value) - top)
      cumBefore[k] = local + gapsAbove;
      rank[k] = i + countAbove;
      local += mass[k];
    }
  }
  double windowsTotal;
  const double before = blockExclusiveScan<kThreads>(local, sc.redD, &windowsTotal);
#pragma unroll
  for (int k = 0; k < kPerThread; k++) cumBefore[k] += before;
  int totalCount = n;
  double total = windowsTotal;
  for (int g = 0; g < 4; g++) {
    totalCount += sc.gapCount[g];
    total += sc.gapMass[g];
  }
  const int lastIdx = w.n < 4 && sc.gapCount[w.n] == 0 ? n - 1 : -1;  // the overall last candidate, if in a window
  const auto owns = [&](int idx) { return idx >= tid * kPerThread && idx < (tid + 1) * kPerThread; };
  // The conditions below are monotone in the sorted index: the smallest index that holds is the cut.
  const auto firstIndex = [&](auto cond) {
    __syncthreads();
    if (tid == 0) sc.found = kNone;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPerThread; k++)
      if (rank[k] >= 0 && cond(k)) atomicMin(&sc.found, tid * kPerThread + k);
    __syncthreads();
    return sc.found;
  };
  const auto through = [&](int idx) {  // cumulative mass up to and including sorted index idx
    __syncthreads();
    if (owns(idx)) sc.total = cumBefore[idx - tid * kPerThread] + mass[idx - tid * kPerThread];
    __syncthreads();
    return sc.total;
  };
  int limit = -1;  // last kept sorted index once a cut applies
  double kept = total;
  if (p.topK > 0 && p.topK < totalCount) {  // top-k: the element of rank topK - 1 must lie in a window
    const int idx = firstIndex([&](int k) { return rank[k] == p.topK - 1; });
    if (idx == kNone) {
      if (tid == 0) sc.status = 1;
    } else {
      limit = idx;
      kept = through(idx);
    }
  }
  __syncthreads();
  if (sc.status == 0 && p.topP < 1.0f) {  // top-p: first index whose cumulative mass reaches topP * kept
    const double target = double(p.topP) * kept;
    const int idx = firstIndex([&](int k) {
      return cumBefore[k] + mass[k] >= target && (limit < 0 || tid * kPerThread + k <= limit);
    });
    if (idx != kNone) {
      if (owns(idx) && !(cumBefore[idx - tid * kPerThread] < target)) sc.status = 1;  // crossing in the gap above
      limit = idx;
      kept = through(idx);
    } else if (limit < 0) {
      if (lastIdx >= 0) limit = lastIdx;
      else if (tid == 0) sc.status = 1;
    }
  }
  __syncthreads();
  int token = 0;
  if (sc.status == 0) {  // the draw: first index whose cumulative mass exceeds u * kept
    const double target = u * kept;
    const int idx = firstIndex([&](int k) {
      return cumBefore[k] + mass[k] > target && (limit < 0 || tid * kPerThread + k <= limit);
    });
    int pick = idx;
    if (idx != kNone) {
      if (owns(idx) && !(cumBefore[idx - tid * kPerThread] <= target)) sc.status = 1;  // the draw lands in a gap
    } else {
      pick = limit >= 0 ? limit : lastIdx;
      if (pick < 0 && tid == 0) sc.status = 1;
    }
    __syncthreads();
    if (sc.status == 0) token = keyId(cand[pick]);
  }
  __syncthreads();
  return token;
}

}  // namespace pagedinfer::cuda::sampler
