// Fused sampling on the GPU: one CTA per logit row, exactly core/sampler.cpp's procedure.
//
// The CPU sorts the candidates (value desc, id asc) and walks the sorted masses to the top-k cut,
// the top-p cut and the draw u * total (u = uniform01(seed, outputIndex)). Sorting 128k logits per
// row is what a GPU must avoid, and only the order near the three cut points matters, so:
//  pass 1 (one read of the row): raw max / log-sum-exp (logprobs), the top value, and a
//    histogram of the candidates by value (2048 bins of 1/32 below a reference taken from the
//    row's first elements), with counts and approximate masses;
//  windows: from the cumulative histogram, the few bins where each cut can fall;
//  pass 2 (second read): candidates inside a window are collected (value, id keys), everything
//    else only adds its exact count and mass to the gap it lies in;
//  the window keys are bitonic-sorted in shared memory; exact cumulative masses (double, as the
//    CPU) = gaps above + a block scan over the sorted keys locate each cut and the drawn token.
// If a cut falls outside every window (the float histogram misjudged) or a window overflows, the
// row is flagged and the host redoes it with the CPU sampler: results are always the CPU's. Greedy
// rows stop after pass 1 with the arg-max (lowest id among equals, as the CPU). Penalties are applied
// on the fly: a bitmap marks penalised ids, their entries are binary-searched.
#include <algorithm>

#include "../core/random.h"
#include "cuda_check.h"
#include "sampling.h"
#include "sampling_block.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kThreads = 512, kBins = 2048, kCap = 4096, kPerThread = kCap / kThreads;
constexpr float kBinScale = 32.0f, kHeadroom = 16.0f;

__device__ __forceinline__ int binOf(float x, float hi) {
  return int(fminf(fmaxf((hi - x) * kBinScale, 0.0f), float(kBins - 1)));
}

struct Row {
  SampleRowParams p;
  const PenaltyEntry* entries;
  const uint32_t* bitmap;
  bool hasPenalties;

  __device__ float penalized(int i, float l) const {
    if (!hasPenalties || !((bitmap[i >> 5] >> (i & 31)) & 1u)) return l;
    int lo = 0, hi = p.penaltyCount - 1;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (entries[mid].token < i) lo = mid + 1;
      else hi = mid;
    }
    const int flags = entries[lo].flags;
    if (flags & 1) l = l > 0 ? l / p.repetition : l * p.repetition;
    if ((flags >> 1) > 0) l -= p.presence + p.frequency * float(flags >> 1);
    return l;
  }
};

// First bin b in [0, last] with cum[b] >= target (last when none).
__device__ int firstReaching(const float* cum, int last, float target) {
  int lo = 0, hi = last;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (cum[mid] >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

struct Windows {
  int n;
  int lo[3], hi[3];
};

__device__ void addWindow(Windows& w, int lo, int hi) {
  w.lo[w.n] = lo;
  w.hi[w.n] = hi;
  w.n++;
}

// Sorts and merges overlapping or adjacent windows (at most three).
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

// Window index (>= 0) of bin b, or -(gap + 1) for the gap it lies in (gap g is before window g).
__device__ __forceinline__ int regionOf(const Windows& w, int b) {
  int region = -1;
#pragma unroll
  for (int i = 0; i < 3; i++)
    if (i < w.n && b >= w.lo[i]) region = b <= w.hi[i] ? i : -(i + 2);
  return region;
}

__global__ void __launch_bounds__(kThreads, 2) sampleKernel(const float* __restrict__ logits, int vocab,
                                                            const SampleRowParams* __restrict__ params,
                                                            const PenaltyEntry* __restrict__ penalties,
                                                            SampleRowResult* __restrict__ results, int bitmapWords) {
  extern __shared__ __align__(16) uint8_t smem[];
  uint64_t* cand = reinterpret_cast<uint64_t*>(smem);
  int* histC = reinterpret_cast<int*>(cand + kCap);
  float* histM = reinterpret_cast<float*>(histC + kBins);
  uint32_t* bitmap = reinterpret_cast<uint32_t*>(histM + kBins);
  __shared__ float redF[kThreads / 32];
  __shared__ double redD[kThreads / 32];
  __shared__ int redI[kThreads / 32];
  __shared__ Windows win;
  __shared__ int status, counter, found;
  __shared__ double gapMass[4];
  __shared__ int gapCount[4];
  __shared__ double sharedTotal;

  const int tid = threadIdx.x;
  const SampleRowParams p = params[blockIdx.x];
  const float* lg = logits + int64_t(blockIdx.x) * vocab;
  Row row{p, penalties + p.penaltyBegin, bitmap, p.penaltyCount > 0 && bitmapWords > 0};
  SampleRowResult res{0, NAN, 0, 0.0f, 0.0f, {0, 0, 0}};

  if (row.hasPenalties) {
    for (int w = tid; w < bitmapWords; w += kThreads) bitmap[w] = 0;
    __syncthreads();
    for (int e = tid; e < p.penaltyCount; e += kThreads) {
      const int tok = row.entries[e].token;
      atomicOr(&bitmap[tok >> 5], 1u << (tok & 31));
    }
  }
  for (int b = tid; b < kBins; b += kThreads) {
    histC[b] = 0;
    histM[b] = 0.0f;
  }
  if (tid == 0) status = 0;
  __syncthreads();
  const bool greedy = p.greedy != 0;
  float reference = -INFINITY;
  if (!greedy) {
    for (int i = tid; i < min(vocab, 4 * kThreads); i += kThreads) {
      const float x = row.penalized(i, lg[i]) * p.invTemperature;
      if (x == x) reference = fmaxf(reference, x);
    }
    reference = blockReduce<kThreads>(reference, [](float a, float b) { return fmaxf(a, b); }, redF);
    if (!(fabsf(reference) < INFINITY)) reference = 0.0f;
  }
  const float hiRef = reference + kHeadroom;

  // ---- pass 1 ----
  float rawM = -INFINITY, rawS = 0.0f, best = -INFINITY, top = -INFINITY;
  int bestId = 0x7fffffff;
  forEachLogit<kThreads>(lg, vocab, [&](int i, float l) {
    if (l > rawM) {
      rawS = rawS * __expf(rawM - l) + 1.0f;
      rawM = l;
    } else if (l > -INFINITY) {
      rawS += __expf(l - rawM);
    }
    const float pen = row.penalized(i, l);
    if (greedy) {
      if (pen > best || (pen == best && i < bestId)) {
        best = pen;
        bestId = i;
      }
    } else {
      const float x = pen * p.invTemperature;
      if (x == x) {
        top = fmaxf(top, x);
        const int b = binOf(x, hiRef);
        atomicAdd(&histC[b], 1);
        atomicAdd(&histM[b], __expf(fminf(x - hiRef, 60.0f)));
      }
    }
  });
  const float rawMax = blockReduce<kThreads>(rawM, [](float a, float b) { return fmaxf(a, b); }, redF);
  const double rawSum = blockReduce<kThreads>(rawM == -INFINITY ? 0.0 : double(rawS) * exp(double(rawM) - double(rawMax)),
                                              [](double a, double b) { return a + b; }, redD);
  res.rawMax = rawMax;
  res.rawLse = float(log(rawSum)) + rawMax;

  if (greedy) {
    const float bestAll = blockReduce<kThreads>(best, [](float a, float b) { return fmaxf(a, b); }, redF);
    const int id = blockReduce<kThreads>(best == bestAll ? bestId : 0x7fffffff, [](int a, int b) { return min(a, b); }, redI);
    res.token = id == 0x7fffffff ? 0 : id;
    if (tid == 0 && row.penalized(0, lg[0]) != row.penalized(0, lg[0])) res.token = 0;  // CPU: a NaN at 0 is never beaten
  } else {
    top = blockReduce<kThreads>(top, [](float a, float b) { return fmaxf(a, b); }, redF);
    const float floorX = top + p.logMinP;  // -inf without min-p
    const double u = uniform01(p.seed, uint64_t(p.outputIndex));
    blockInclusiveScanArray<kThreads>(histC, kBins, redI);
    blockInclusiveScanArray<kThreads>(histM, kBins, redF);
    if (tid == 0) {
      Windows w;
      w.n = 0;
      if (!(top > -INFINITY && top < INFINITY)) status = 1;
      const int fb = binOf(floorX, hiRef);
      const float eps = 2e-3f;
      int last = fb;
      float tLo = fb > 0 ? histM[fb - 1] : 0.0f, tHi = histM[fb];
      if (p.topK > 0 && p.topK < histC[fb]) {
        int lo = 0, hi = fb;  // first bin whose cumulative count reaches topK
        while (lo < hi) {
          const int mid = (lo + hi) >> 1;
          if (histC[mid] >= p.topK) hi = mid;
          else lo = mid + 1;
        }
        last = lo;
        tLo = lo > 0 ? histM[lo - 1] : 0.0f;
        tHi = histM[lo];
        addWindow(w, lo, lo);
      }
      if (p.topP < 1.0f) {
        const int pLo = firstReaching(histM, last, p.topP * tLo * (1.0f - eps));
        const int pHi = firstReaching(histM, last, p.topP * tHi * (1.0f + eps));
        addWindow(w, pLo, pHi);
        last = pHi;
        tLo = pLo > 0 ? histM[pLo - 1] : 0.0f;
        tHi = histM[pHi];
      }
      const float uf = float(u);
      addWindow(w, firstReaching(histM, last, uf * tLo * (1.0f - eps)), firstReaching(histM, last, uf * tHi * (1.0f + eps)));
      mergeWindows(w);
      int estimate = 0;
      for (int i = 0; i < w.n; i++) estimate += histC[w.hi[i]] - (w.lo[i] > 0 ? histC[w.lo[i] - 1] : 0);
      if (estimate > kCap) status = 1;
      win = w;
      counter = 0;
    }
    __syncthreads();

    if (status == 0) {
      // ---- pass 2 ----
      const Windows w = win;
      int gc[4] = {0, 0, 0, 0};
      double gm[4] = {0.0, 0.0, 0.0, 0.0};
      forEachLogit<kThreads>(lg, vocab, [&](int i, float l) {
        const float x = row.penalized(i, l) * p.invTemperature;
        if (!(x >= floorX)) return;  // below min-p, or NaN
        const int region = regionOf(w, binOf(x, hiRef));
        if (region >= 0) {
          const int slot = atomicAdd(&counter, 1);
          if (slot < kCap) cand[slot] = orderKey(x, i);
        } else {
          const double mass = double(expf(x - top));
#pragma unroll
          for (int g = 0; g < 4; g++)
            if (-(region + 1) == g) {
              gc[g]++;
              gm[g] += mass;
            }
        }
      });
#pragma unroll
      for (int g = 0; g < 4; g++) {
        const int c = blockReduce<kThreads>(gc[g], [](int a, int b) { return a + b; }, redI);
        const double m = blockReduce<kThreads>(gm[g], [](double a, double b) { return a + b; }, redD);
        if (tid == 0) {
          gapCount[g] = c;
          gapMass[g] = m;
        }
      }
      __syncthreads();
      const int n = counter;
      if (n > kCap) {
        if (tid == 0) status = 1;
      } else {
        int size = 1;
        while (size < n) size <<= 1;
        for (int i = n + tid; i < size; i += kThreads) cand[i] = ~0ull;
        bitonicSort<kThreads>(cand, size);

        // Exact cumulative masses in sorted order: gaps above + prefix over the window keys.
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
              gapsAbove += gapMass[g];
              countAbove += gapCount[g];
            }
            mass[k] = exp(double(x) - double(top));
            cumBefore[k] = local + gapsAbove;
            rank[k] = i + countAbove;
            local += mass[k];
          }
        }
        double windowsTotal;
        const double before = blockExclusiveScan<kThreads>(local, redD, &windowsTotal);
#pragma unroll
        for (int k = 0; k < kPerThread; k++) cumBefore[k] += before;
        int totalCount = n;
        double total = windowsTotal;
        for (int g = 0; g < 4; g++) {
          totalCount += gapCount[g];
          total += gapMass[g];
        }
        const int lastIdx = w.n < 4 && gapCount[w.n] == 0 ? n - 1 : -1;  // overall last candidate, if in a window

        // The cut searches below find the first sorted index whose condition holds; the condition is
        // monotone in the index, so the smallest index that satisfies it is the cut.
        auto firstIndex = [&](auto cond) {
          if (tid == 0) found = 0x7fffffff;
          __syncthreads();
#pragma unroll
          for (int k = 0; k < kPerThread; k++)
            if (rank[k] >= 0 && cond(k)) atomicMin(&found, tid * kPerThread + k);
          __syncthreads();
          return found;
        };
        auto publish = [&](int idx, bool cum) {  // total up to and including sorted index idx
          if (idx >= tid * kPerThread && idx < (tid + 1) * kPerThread) {
            const int k = idx - tid * kPerThread;
            sharedTotal = cum ? cumBefore[k] + mass[k] : 0.0;
          }
          __syncthreads();
          return sharedTotal;
        };
        constexpr int kNone = 0x7fffffff;
        const auto owns = [&](int idx) { return idx >= tid * kPerThread && idx < (tid + 1) * kPerThread; };
        int limit = -1;  // last kept sorted index once a cut applies
        double kept = total;
        // top-k: the element of rank topK - 1 must lie in a window.
        if (p.topK > 0 && p.topK < totalCount) {
          const int idx = firstIndex([&](int k) { return rank[k] == p.topK - 1; });
          if (idx == kNone) {
            if (tid == 0) status = 1;
          } else {
            limit = idx;
            kept = publish(idx, true);
          }
        }
        __syncthreads();
        // top-p: the first index whose cumulative mass reaches topP * kept.
        if (status == 0 && p.topP < 1.0f) {
          const double target = double(p.topP) * kept;
          const int idx = firstIndex([&](int k) {
            return cumBefore[k] + mass[k] >= target && (limit < 0 || tid * kPerThread + k <= limit);
          });
          if (idx != kNone) {
            if (owns(idx) && !(cumBefore[idx - tid * kPerThread] < target)) status = 1;  // crossing in the gap above
            limit = idx;
            kept = publish(idx, true);
          } else if (limit < 0) {
            if (lastIdx >= 0) limit = lastIdx;
            else if (tid == 0) status = 1;
          }
        }
        __syncthreads();
        // the draw: the first index whose cumulative mass exceeds u * kept.
        if (status == 0) {
          const double target = u * kept;
          const int idx = firstIndex([&](int k) {
            return cumBefore[k] + mass[k] > target && (limit < 0 || tid * kPerThread + k <= limit);
          });
          int pick = idx;
          if (idx != kNone) {
            if (owns(idx) && !(cumBefore[idx - tid * kPerThread] <= target)) status = 1;  // draw in the gap above
          } else {
            pick = limit >= 0 ? limit : lastIdx;
            if (pick < 0 && tid == 0) status = 1;
          }
          __syncthreads();
          if (status == 0) res.token = keyId(cand[pick]);
        }
      }
    }
    __syncthreads();
    res.status = status;
  }
  if (tid == 0) {
    res.logprob = p.numLogprobs >= 0 && res.status == 0 ? lg[res.token] - res.rawLse : NAN;
    results[blockIdx.x] = res;
  }
}

}  // namespace

size_t sampleSmemBytes(int vocab, bool penalties) {
  return size_t(kCap) * 8 + size_t(kBins) * 8 + (penalties ? size_t((vocab + 31) / 32) * 4 : 0);
}

void launchSample(const float* logits, int rows, int vocab, const SampleRowParams* params, const PenaltyEntry* penalties,
                  bool anyPenalties, SampleRowResult* results, cudaStream_t stream) {
  if (rows <= 0) return;
  const size_t smem = sampleSmemBytes(vocab, anyPenalties);
  CUDA_CHECK(cudaFuncSetAttribute(sampleKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  sampleKernel<<<rows, kThreads, smem, stream>>>(logits, vocab, params, penalties, results,
                                                 anyPenalties ? (vocab + 31) / 32 : 0);
  CUDA_CHECK_LAUNCH("sample");
}

}  // namespace pagedinfer::cuda
