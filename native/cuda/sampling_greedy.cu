// Greedy rows when there are few of them (a batch-1 decode): the arg-max of a 128k-logit row read
// by one CTA (sampling.cu) is ~28 µs of latency-bound work on the decode chain; here each row is
// split over kGreedySplit CTAs and the last of them to finish combines their partial results
// (an arrival counter per row, left at zero). The result is sampling.cu's for a greedy row without
// penalties: the largest logit, the lowest id among equals, NaN never chosen except that a NaN at
// id 0 gives 0 (the CPU's arg-max), and with logprobs the raw log-sum-exp as float(log(sum)) + max.
#include "cuda_check.h"
#include "sampling.h"
#include "sampling_block.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kThreads = 256;

struct GreedyPartial {
  float best;
  int id;
  float rawMax;
  double rawSum;  // sum of exp(l - rawMax) over the chunk
};

__global__ void __launch_bounds__(kThreads) greedySplitKernel(const float* __restrict__ logits, int vocab,
                                                              const SampleRowParams* __restrict__ params,
                                                              SampleRowResult* __restrict__ results,
                                                              GreedyPartial* __restrict__ partials, int* __restrict__ arrivals) {
  __shared__ float redF[kThreads / 32];
  __shared__ double redD[kThreads / 32];
  __shared__ int redI[kThreads / 32];
  __shared__ bool last;
  const int row = blockIdx.y, chunk = blockIdx.x, tid = threadIdx.x;
  const bool wantRaw = params[row].numLogprobs >= 0;
  const float* lg = logits + int64_t(row) * vocab;
  const int per = ((vocab + kGreedySplit - 1) / kGreedySplit + 3) / 4 * 4;  // whole float4s (vocab % 4 == 0)
  const int c0 = min(vocab, chunk * per), c1 = min(vocab, c0 + per);
  float best = -INFINITY, rawM = -INFINITY, rawS = 0.0f;
  int bestId = kNone;
  forEachLogit<kThreads>(lg + c0, c1 - c0, [&](int j, float l) {
    const int i = c0 + j;
    if (l > best || (l == best && i < bestId)) {
      best = l;
      bestId = i;
    }
    if (wantRaw) onlineLse(l, rawM, rawS);
  });
  const auto maxOp = [](float a, float b) { return fmaxf(a, b); };
  const float bestAll = blockReduce<kThreads>(best, maxOp, redF);
  const int id = blockReduce<kThreads>(best == bestAll ? bestId : kNone, [](int a, int b) { return min(a, b); }, redI);
  const float rawMax = blockReduce<kThreads>(rawM, maxOp, redF);
  const double rawSum = blockReduce<kThreads>(rawM == -INFINITY ? 0.0 : double(rawS) * exp(double(rawM) - double(rawMax)),
                                              [](double a, double b) { return a + b; }, redD);
  if (tid == 0) {
    partials[int64_t(row) * kGreedySplit + chunk] = GreedyPartial{bestAll, id, rawMax, rawSum};
    __threadfence();  // the partial before the arrival
    last = atomicAdd(&arrivals[row], 1) == kGreedySplit - 1;
    if (last) {
      arrivals[row] = 0;
      __threadfence();  // the other chunks' partials after their arrivals
      // Read from L2 (__ldcg), as the decode attention's combine does: the other chunks' partials
      // were stored from other SMs, and the result must not depend on what this SM's L1 holds.
      const auto partial = [&](int c) {
        const GreedyPartial* p = partials + int64_t(row) * kGreedySplit + c;
        return GreedyPartial{__ldcg(&p->best), __ldcg(&p->id), __ldcg(&p->rawMax), __ldcg(&p->rawSum)};
      };
      float b = -INFINITY, m = -INFINITY;
      int bid = kNone;
      for (int c = 0; c < kGreedySplit; c++) {
        const GreedyPartial p = partial(c);
        if (p.best > b || (p.best == b && p.id < bid)) b = p.best, bid = p.id;
        m = fmaxf(m, p.rawMax);
      }
      double sum = 0.0;
      for (int c = 0; c < kGreedySplit; c++) {
        const GreedyPartial p = partial(c);
        if (p.rawMax != -INFINITY) sum += p.rawSum * exp(double(p.rawMax) - double(m));
      }
      SampleRowResult res{0, NAN, 0, 0.0f, 0.0f, 0, {0, 0}};
      res.token = bid == kNone ? 0 : bid;
      if (lg[0] != lg[0]) res.token = 0;  // the CPU's arg-max starts at 0 and never replaces a NaN there
      res.rawMax = m;
      res.rawLse = wantRaw ? float(log(sum)) + m : 0.0f;
      res.logprob = wantRaw ? lg[res.token] - res.rawLse : NAN;
      results[row] = res;
    }
  }
}

}  // namespace

// Layout: the arrival counters of kGreedySplitMaxRows rows first (at fixed places whatever the
// row count), then the partials.
constexpr size_t kArrivalBytes = (kGreedySplitMaxRows * sizeof(int) + 15) / 16 * 16;

size_t greedySplitScratchBytes(int rows) { return kArrivalBytes + size_t(rows) * kGreedySplit * sizeof(GreedyPartial); }

void launchGreedySplit(const float* logits, int rows, int vocab, const SampleRowParams* params, SampleRowResult* results,
                       void* scratch, cudaStream_t stream) {
  if (rows <= 0) return;
  if (rows > kGreedySplitMaxRows || vocab % 4 != 0)
    throw InvalidArgumentError("internal: launchGreedySplit takes at most 16 rows and vocab % 4 == 0");
  auto* arrivals = static_cast<int*>(scratch);
  auto* partials = reinterpret_cast<GreedyPartial*>(static_cast<uint8_t*>(scratch) + kArrivalBytes);
  greedySplitKernel<<<dim3(kGreedySplit, rows), kThreads, 0, stream>>>(logits, vocab, params, results, partials, arrivals);
  CUDA_CHECK_LAUNCH("greedySplit");
}

}  // namespace pagedinfer::cuda
