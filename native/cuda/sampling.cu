// Fused sampling on the GPU: one CTA per logit row, exactly core/sampler.cpp's procedure.
//
// The CPU sorts the candidates (value desc, id asc) and walks their masses to the top-k cut, the
// top-p cut and the draw u * total (u = uniform01(seed, outputIndex)). Sorting 128k logits per row
// is what a GPU must avoid; only the order near the cut points matters. So, in one read of the row:
//  - raw max / log-sum-exp (logprobs) and the top scaled value,
//  - a shared-memory buffer of every value above a threshold bin (bins of 1/32 below a reference
//    taken from the row's first elements), the threshold chosen from those first elements and
//    raised (evicting) whenever the buffer passes half full, and the mass of everything below it.
// Most rows end there: the buffer is sorted (bitonic) and the cuts are placed in it with exact
// double cumulative masses (sampling_resolve.cuh). When a cut lies below the buffer (a flat
// distribution drawn deep), a second read builds a histogram of the whole row, windows around each
// cut are read off it, and a third read collects just those; if even that misses (or overflows),
// the row is flagged and the host redoes it with the CPU sampler. Greedy rows stop after one read with the arg-max. Penalties are applied
// on the fly: a bitmap marks penalised ids, their (unique, counted) entries are binary-searched.
#include <algorithm>
#include <atomic>

#include "../core/random.h"
#include "cuda_check.h"
#include "sampling_resolve.cuh"
#include "sampling_topn.cuh"
#include "sampling_walk.cuh"

namespace pagedinfer::cuda {

namespace {

using namespace sampler;

constexpr int kChunk = kThreads * 64;  // elements between buffer checks
// Values a row aims to buffer above its threshold: 256, 512, 1024 and 2048 measured 88-92, 102-106,
// 109-114 and 113-117 us of kernels for 256 x 128k sampled rows on the H100 (docs/cuda-kernels.md S5).
constexpr int kDefaultBufferTarget = kCap / 16;
constexpr int kSample = 4 * kThreads;  // first elements that set the reference and the threshold

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

// Largest bin b <= last whose cumulative count is at most `target` (0 if none): one warp.
__device__ int binBelowCount(const int* hist, int last, int target) {
  const int lane = threadIdx.x & 31, per = (last + 32) / 32;
  const int b0 = lane * per, b1 = min(last + 1, b0 + per);
  int sum = 0;
  for (int b = b0; b < b1; b++) sum += hist[b];
  int incl = sum;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int v = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += v;
  }
  int run = incl - sum, best = -1;
  for (int b = b0; b < b1; b++) {
    run += hist[b];
    if (run <= target) best = b;
  }
  return max(0, warpReduce(best, [](int a, int c) { return max(a, c); }));
}

// Pads cand[n, pow2) with the largest key and sorts.
__device__ void sortCandidates(uint64_t* cand, int n) {
  int size = 1;
  while (size < n) size <<= 1;
  for (int i = n + threadIdx.x; i < size; i += kThreads) cand[i] = ~0ull;
  bitonicSort<kThreads>(cand, size);
}

// kPenalties / kLogprobs: whether any row of the launch has penalties / wants logprobs. Without,
// the per-logit penalty lookup (a bitmap test and a binary search) or log-sum-exp and top-n
// tracking, inlined at every logit of every unrolled loop, is compiled out. Both made the hot loops
// too large for an SM's instruction cache once two kinds of row (two loops) shared the SM, as they
// do in a mixed batch: a mix of four kinds took 116 us where each kind alone took at most 91
// (docs/cuda-kernels.md S11, S12).
template <bool kPenalties, bool kLogprobs>
__global__ void __launch_bounds__(kThreads, 2) sampleKernel(const float* __restrict__ logits, int vocab,
                                                            const SampleRowParams* __restrict__ params,
                                                            const PenaltyEntry* __restrict__ penalties,
                                                            SampleRowResult* __restrict__ results, int bitmapWords,
                                                            int bufferTarget, int maxTopN, int32_t* __restrict__ topIds,
                                                            float* __restrict__ topLogprobs) {
  extern __shared__ __align__(16) uint8_t smem[];
  uint64_t* cand = reinterpret_cast<uint64_t*>(smem);
  int* histC = reinterpret_cast<int*>(cand + kCap);
  // Slow path only: mass per bin relative to the top value, fixed point (2^40 = mass 1): integer
  // shared-memory atomics, which do not serialise the way float ones do.
  unsigned long long* histM = reinterpret_cast<unsigned long long*>(histC + kBins);
  uint32_t* bitmap = reinterpret_cast<uint32_t*>(histM + kBins);
  __shared__ Scratch sc;
  const int tid = threadIdx.x, warp = tid >> 5;
  const SampleRowParams p = params[blockIdx.x];
  const float* lg = logits + int64_t(blockIdx.x) * vocab;
  const Row row{p, penalties + p.penaltyBegin, bitmap, kPenalties && p.penaltyCount > 0 && bitmapWords > 0};
  const auto maxOp = [](float a, float b) { return fmaxf(a, b); };
  SampleRowResult res{0, NAN, 0, 0.0f, 0.0f, 0, {0, 0}};

  if (row.hasPenalties) {
    for (int w = tid; w < bitmapWords; w += kThreads) bitmap[w] = 0;
    __syncthreads();
    for (int e = tid; e < p.penaltyCount; e += kThreads) {
      const int tok = row.entries[e].token;
      atomicOr(&bitmap[tok >> 5], 1u << (tok & 31));
    }
  }
  for (int b = tid; b < kBins; b += kThreads) histC[b] = 0;
  if (tid == 0) sc.status = sc.overflow = sc.buffered = 0;
  __syncthreads();

  float rawM = -INFINITY, rawS = 0.0f;
  const bool wantRaw = kLogprobs && p.numLogprobs >= 0;
  // Raw top-n (sampling_topn.cuh), its lists in histM until the first read is done.
  const int topN = kLogprobs && vocab <= kTopMaxVocab && min(p.numLogprobs, vocab) <= maxTopN ? min(p.numLogprobs, vocab) : 0;
  TopTracker topRaw;
  topRaw.begin(histM, lg, vocab, topN, reinterpret_cast<float*>(cand));
  const bool greedy = p.greedy != 0, walk = !greedy && p.walk != 0;
  // A walked row at temperature 1 without penalties weighs exp(l - segment max) for every raw logit
  // already: its log-sum-exp comes from the segments' weights, not from a second exp per logit.
  const bool lseFromWalk = walk && wantRaw && p.invTemperature == 1.0f && !row.hasPenalties && vocab <= kTopMaxVocab;
  const auto rawUpdate = [&](int i, float l) {  // every raw logit once: log-sum-exp and top-n (logprobs only)
    if (wantRaw) {
      if (!lseFromWalk) onlineLse(l, rawM, rawS);
      topRaw.offer(i, l);
    }
  };
  float top = -INFINITY, hiRef = 0.0f;
  double below = 0.0;  // mass (relative to hiRef) of everything that is not in the buffer
  int valid = 0;
  if (greedy) {
    float best = -INFINITY;
    int bestId = kNone;
    forEachLogit<kThreads>(lg, vocab, [&](int i, float l) {
      rawUpdate(i, l);
      const float pen = row.penalized(i, l);
      if (pen > best || (pen == best && i < bestId)) {
        best = pen;
        bestId = i;
      }
    });
    const float bestAll = blockReduce<kThreads>(best, maxOp, sc.redF);
    const int id = blockReduce<kThreads>(best == bestAll ? bestId : kNone, [](int a, int b) { return min(a, b); }, sc.redI);
    res.token = id == kNone ? 0 : id;
    const float first = row.penalized(0, lg[0]);
    if (first != first) res.token = 0;  // the CPU's arg-max starts at 0 and never replaces a NaN there
  } else if (walk) {
    // Segment sums over the candidate buffer and the histograms (contiguous, unused by this row).
    const int token = walkRow(
        lg, vocab, uniform01(p.seed, uint64_t(p.outputIndex)),
        [&](int i, float l) { return __fmul_rn(row.penalized(i, l), p.invTemperature); },
        [&](int i, float l) { rawUpdate(i, l); }, smem, size_t(kCap) * 8 + size_t(kBins) * 12, sc);
    res.token = token < 0 ? 0 : token;
    res.status = token < 0 ? 1 : 0;
    if (lseFromWalk) {  // each segment's maximum and sum of exp(l - maximum), from walkRow
      const int segments = (vocab + kWalkSegment - 1) / kWalkSegment;
      const unsigned long long* segSum = walkSegmentSums(smem);
      const float* segMax = walkSegmentMaxima(smem, segments);
      for (int s = tid; s < segments; s += kThreads)
        onlineLse(segMax[s], rawM, rawS, float(double(segSum[s]) * (1.0 / double(kWalkUnit))));
    }
  } else {
    // Reference and initial threshold from the first elements: aim for about bufferTarget buffered.
    float ref = -INFINITY;
    const int sampleEnd = min(vocab, kSample);
    for (int i = tid; i < sampleEnd; i += kThreads) {
      const float x = row.penalized(i, lg[i]) * p.invTemperature;
      if (x == x) ref = fmaxf(ref, x);
    }
    ref = blockReduce<kThreads>(ref, maxOp, sc.redF);
    hiRef = (fabsf(ref) < INFINITY ? ref : 0.0f) + kHeadroom;
    if (vocab <= kCap / 2) {
      if (tid == 0) sc.theta = kBins - 1;
    } else {
      for (int i = tid; i < sampleEnd; i += kThreads) {
        const float x = row.penalized(i, lg[i]) * p.invTemperature;
        if (x == x) atomicAdd(&histC[binOf(x, hiRef)], 1);
      }
      __syncthreads();
      if (warp == 0) {
        const int t = binBelowCount(histC, kBins - 1, max(1, int(int64_t(bufferTarget) * sampleEnd / vocab)));
        if (tid == 0) sc.theta = t;
      }
      __syncthreads();
      for (int b = tid; b < kBins; b += kThreads) histC[b] = 0;
    }
    __syncthreads();

    for (int c0 = 0; c0 < vocab; c0 += kChunk) {
      const int theta = sc.theta;
      const int c1 = min(vocab, c0 + kChunk);
      // binOf(x, hiRef) <= theta without the bin: the clamped (hiRef - x) * 32 truncates to at
      // most theta iff it is below theta + 1 (every value is in the last bin's range when theta
      // is the last bin). The read is instruction-bound (docs/cuda-kernels.md S3), so the tail
      // mass is summed in float per chunk (at most 64 values a thread) and in double across.
      const bool everyBin = theta == kBins - 1;
      const float thetaEnd = float(theta + 1);
      float belowChunk = 0.0f;
      forEachLogit<kThreads>(lg + c0, c1 - c0, [&](int j, float l) {
        const int i = c0 + j;
        rawUpdate(i, l);
        const float x = row.penalized(i, l) * p.invTemperature;
        if (x != x) return;
        valid++;
        top = fmaxf(top, x);
        if (everyBin || (hiRef - x) * kBinScale < thetaEnd) {
          const int slot = atomicAdd(&sc.buffered, 1);
          if (slot < kCap) cand[slot] = orderKey(x, i);
          else sc.overflow = 1;
        } else {
          belowChunk += __expf(x - hiRef);  // below the threshold bin: x < hiRef
        }
      });
      below += double(belowChunk);
      __syncthreads();
      if (sc.buffered > kCap / 2 && !sc.overflow) {  // raise the threshold: keep about a quarter
        const int n = sc.buffered;
        for (int b = tid; b <= theta; b += kThreads) histC[b] = 0;
        __syncthreads();
        for (int i = tid; i < n; i += kThreads) atomicAdd(&histC[binOf(keyValue(cand[i]), hiRef)], 1);
        __syncthreads();
        if (warp == 0) {
          const int t = binBelowCount(histC, theta, kCap / 4);
          if (tid == 0) sc.theta = t;
        }
        __syncthreads();
        const int newTheta = sc.theta;
        uint64_t keep[kPerThread];
#pragma unroll
        for (int k = 0; k < kPerThread; k++) {
          const int i = tid * kPerThread + k;
          keep[k] = ~0ull;
          if (i < n) {
            const float x = keyValue(cand[i]);
            if (binOf(x, hiRef) <= newTheta) keep[k] = cand[i];
            else below += __expf(x - hiRef);
          }
        }
        __syncthreads();
        if (tid == 0) sc.buffered = 0;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kPerThread; k++)
          if (keep[k] != ~0ull) cand[atomicAdd(&sc.buffered, 1)] = keep[k];
        __syncthreads();
      }
    }
  }
  const float rawMax = blockReduce<kThreads>(rawM, maxOp, sc.redF);
  const double rawSum = blockReduce<kThreads>(rawM == -INFINITY ? 0.0 : double(rawS) * exp(double(rawM) - double(rawMax)),
                                              [](double a, double b) { return a + b; }, sc.redD);
  res.rawMax = rawMax;
  res.rawLse = wantRaw ? float(log(rawSum)) + rawMax : 0.0f;
  res.topDone = topRaw.finish(topN, rawMax, res.rawLse, histC, sc, topIds + int64_t(blockIdx.x) * maxTopN,
                              topLogprobs + int64_t(blockIdx.x) * maxTopN);

  if (!greedy && !walk) {
    top = blockReduce<kThreads>(top, maxOp, sc.redF);
    below = blockReduce<kThreads>(below, [](double a, double b) { return a + b; }, sc.redD);
    valid = blockReduce<kThreads>(valid, [](int a, int b) { return a + b; }, sc.redI);
    const float floorX = top + p.logMinP;  // -inf without min-p
    const double u = uniform01(p.seed, uint64_t(p.outputIndex));
    const int fb = binOf(floorX, hiRef), theta = sc.theta;
    const bool finite = top > -INFINITY && top < INFINITY;

    // 1. From the buffer: everything above the threshold, sorted; below it one gap of known mass.
    // With min-p the gap must lie wholly below the floor (or be everything, without min-p).
    bool tried = false;
    if (finite && !sc.overflow && (p.logMinP == -INFINITY || fb <= theta)) {
      tried = true;
      const int n = sc.buffered;
      sortCandidates(cand, n);
      int inFloor = 0;
      for (int i = tid; i < n; i += kThreads) inFloor += keyValue(cand[i]) >= floorX;
      inFloor = blockReduce<kThreads>(inFloor, [](int a, int b) { return a + b; }, sc.redI);
      if (tid == 0) {
        for (int g = 0; g < 4; g++) sc.gapCount[g] = 0, sc.gapMass[g] = 0.0;
        if (p.logMinP == -INFINITY) {
          sc.gapCount[1] = valid - n;
          sc.gapMass[1] = below * exp(double(hiRef) - double(top));
        }
      }
      __syncthreads();
      const Windows w{1, {0, 0, 0}, {theta, 0, 0}};
      res.token = resolveSorted(cand, inFloor, w, top, hiRef, u, p, sc);
    }
    // 2. Windows around the cuts, collected by a second read of the row.
    if (!finite) {
      if (tid == 0) sc.status = 1;
    } else if (!tried || sc.status != 0) {
      __syncthreads();
      if (tid == 0) sc.status = 0;
      for (int b = tid; b < kBins; b += kThreads) {
        histC[b] = 0;
        histM[b] = 0ull;
      }
      __syncthreads();
      forEachLogit<kThreads>(lg, vocab, [&](int i, float l) {  // counts and masses by bin
        const float x = row.penalized(i, l) * p.invTemperature;
        if (x != x) return;
        const int b = binOf(x, hiRef);
        atomicAdd(&histC[b], 1);
        atomicAdd(&histM[b], (unsigned long long)(__expf(x - top) * 1099511627776.0f));
      });
      __syncthreads();
      blockInclusiveScanArray<kThreads>(histC, kBins, sc.redI);
      blockInclusiveScanArray<kThreads>(histM, kBins, sc.redU);
      if (tid == 0) {
        const Windows w = chooseWindows(histC, histM, fb, p, u);
        int estimate = 0;
        for (int i = 0; i < w.n; i++) estimate += histC[w.hi[i]] - (w.lo[i] > 0 ? histC[w.lo[i] - 1] : 0);
        if (estimate > kCap) sc.status = 1;
        sc.win = w;
        sc.counter = 0;
      }
      __syncthreads();
      if (sc.status == 0) {
        const Windows w = sc.win;
        int gc[4] = {0, 0, 0, 0};
        double gm[4] = {0.0, 0.0, 0.0, 0.0};
        forEachLogit<kThreads>(lg, vocab, [&](int i, float l) {
          const float x = row.penalized(i, l) * p.invTemperature;
          if (!(x >= floorX)) return;  // below min-p, or NaN
          const int region = regionOf(w, binOf(x, hiRef));
          if (region >= 0) {
            const int slot = atomicAdd(&sc.counter, 1);
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
          const int c = blockReduce<kThreads>(gc[g], [](int a, int b) { return a + b; }, sc.redI);
          const double m = blockReduce<kThreads>(gm[g], [](double a, double b) { return a + b; }, sc.redD);
          if (tid == 0) {
            sc.gapCount[g] = c;
            sc.gapMass[g] = m;
          }
        }
        __syncthreads();
        const int n = sc.counter;
        if (n > kCap) {
          if (tid == 0) sc.status = 1;
        } else {
          sortCandidates(cand, n);
          res.token = resolveSorted(cand, n, w, top, hiRef, u, p, sc);
        }
      }
    }
    __syncthreads();
    res.status = sc.status;
  }
  if (tid == 0) {
    res.logprob = p.numLogprobs >= 0 && res.status == 0 ? lg[res.token] - res.rawLse : NAN;
    results[blockIdx.x] = res;
  }
}

}  // namespace

size_t sampleSmemBytes(int vocab, bool penalties) {
  return size_t(kCap) * 8 + size_t(kBins) * (4 + 8) + (penalties ? size_t((vocab + 31) / 32) * 4 : 0);
}

void launchSample(const float* logits, int rows, int vocab, const SampleRowParams* params, const PenaltyEntry* penalties,
                  bool anyPenalties, bool anyLogprobs, SampleRowResult* results, int maxTopN, int32_t* topIds,
                  float* topLogprobs, int bufferTarget, cudaStream_t stream) {
  if (rows <= 0) return;
  if (!topIds || !topLogprobs) maxTopN = 0;
  const size_t smem = sampleSmemBytes(vocab, anyPenalties);
  // One instance per (penalties, logprobs): each compiles out the per-logit work the launch does
  // not need. Each opts in once for the largest common size (a vocabulary of 1M with penalties).
  using Kernel = decltype(&sampleKernel<false, false>);
  static const Kernel kernels[4] = {sampleKernel<false, false>, sampleKernel<false, true>, sampleKernel<true, false>,
                                    sampleKernel<true, true>};
  static std::atomic<uint32_t> configured[4]{{0}, {0}, {0}, {0}};
  const int instance = (anyPenalties ? 2 : 0) + (anyLogprobs ? 1 : 0);
  const Kernel kernel = kernels[instance];
  const size_t common = sampleSmemBytes(1 << 20, true);
  if (smem > common) CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  else allowDynamicSmem(kernel, common, configured[instance]);
  kernel<<<rows, kThreads, smem, stream>>>(logits, vocab, params, penalties, results, anyPenalties ? (vocab + 31) / 32 : 0,
                                           bufferTarget > 0 ? std::min(bufferTarget, kCap / 2) : kDefaultBufferTarget,
                                           std::max(maxTopN, 0), topIds, topLogprobs);
  CUDA_CHECK_LAUNCH("sample");
}

}  // namespace pagedinfer::cuda
