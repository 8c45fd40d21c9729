// Top-n logprobs of the raw distribution for the rows that ask for them (numLogprobs > 0): one CTA
// per row, two reads of the row. A count histogram of (rawMax - logit) finds the bin holding the
// n-th largest logit; every logit in that bin or above is collected, bitonic-sorted in the CPU
// sampler's order (value desc, id asc) and the first n are written. If those bins hold more
// than the shared-memory capacity the row is flagged and the host computes it. Rows whose top-n
// the sampler already found in its first read (topDone, sampling_topn.cuh) only get their padding.
#include <algorithm>
#include <atomic>

#include "cuda_check.h"
#include "sampling.h"
#include "sampling_block.cuh"

namespace pagedinfer::cuda {

namespace {

constexpr int kThreads = 512, kBins = 2048, kCap = 4096;

__device__ __forceinline__ int rawBin(float rawMax, float l) {
  return int(fminf(fmaxf((rawMax - l) * 32.0f, 0.0f), float(kBins - 1)));
}

__global__ void __launch_bounds__(kThreads, 2) topLogprobsKernel(const float* __restrict__ logits, int vocab,
                                                                 const SampleRowParams* __restrict__ params,
                                                                 SampleRowResult* results, int maxTopN,
                                                                 int32_t* __restrict__ topIds,
                                                                 float* __restrict__ topLogprobs) {
  extern __shared__ __align__(16) uint8_t smem[];
  uint64_t* cand = reinterpret_cast<uint64_t*>(smem);
  int* hist = reinterpret_cast<int*>(cand + kCap);
  __shared__ int redI[kThreads / 32];
  __shared__ int cut, counter;
  const int tid = threadIdx.x, row = blockIdx.x;
  const int n = min(params[row].numLogprobs, vocab);
  int32_t* ids = topIds + int64_t(row) * maxTopN;
  float* lps = topLogprobs + int64_t(row) * maxTopN;
  for (int i = n > 0 ? n + tid : tid; i < maxTopN; i += kThreads) {
    ids[i] = -1;
    lps[i] = -INFINITY;
  }
  if (n <= 0 || results[row].status != 0 || results[row].topDone) return;  // topDone: sampleKernel wrote [0, n)
  const float rawMax = results[row].rawMax, lse = results[row].rawLse;
  const float* lg = logits + int64_t(row) * vocab;

  for (int b = tid; b < kBins; b += kThreads) hist[b] = 0;
  __syncthreads();
  forEachLogit<kThreads>(lg, vocab, [&](int, float l) {
    if (l == l) atomicAdd(&hist[rawBin(rawMax, l)], 1);
  });
  __syncthreads();
  blockInclusiveScanArray<kThreads>(hist, kBins, redI);
  if (tid == 0) {
    int lo = 0, hi = kBins - 1;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (hist[mid] >= n) hi = mid;
      else lo = mid + 1;
    }
    cut = lo;
    counter = 0;
  }
  __syncthreads();
  if (hist[cut] > kCap) {
    if (tid == 0) results[row].status = 1;
    return;
  }
  forEachLogit<kThreads>(lg, vocab, [&](int i, float l) {
    if (l == l && rawBin(rawMax, l) <= cut) cand[atomicAdd(&counter, 1)] = orderKey(l, i);
  });
  __syncthreads();
  const int count = counter;
  int size = 1;
  while (size < count) size <<= 1;
  for (int i = count + tid; i < size; i += kThreads) cand[i] = ~0ull;
  bitonicSort<kThreads>(cand, size);
  for (int i = tid; i < n && i < count; i += kThreads) {
    ids[i] = keyId(cand[i]);
    lps[i] = keyValue(cand[i]) - lse;
  }
}

}  // namespace

void launchTopLogprobs(const float* logits, int rows, int vocab, const SampleRowParams* params, SampleRowResult* results,
                       int maxTopN, int32_t* topIds, float* topLogprobs, cudaStream_t stream) {
  if (rows <= 0 || maxTopN <= 0) return;
  const size_t smem = size_t(kCap) * 8 + size_t(kBins) * 4;
  static std::atomic<uint32_t> configured{0};
  allowDynamicSmem(topLogprobsKernel, smem, configured);
  topLogprobsKernel<<<rows, kThreads, smem, stream>>>(logits, vocab, params, results, maxTopN, topIds, topLogprobs);
  CUDA_CHECK_LAUNCH("topLogprobs");
}

}  // namespace pagedinfer::cuda
