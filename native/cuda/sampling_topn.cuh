// The raw top-n logprobs found during the sampler's first read of a row (sampling.cu), so that a
// row with numLogprobs > 0 needs no second kernel (sampling_logprobs.cu stays for the rows this
// cannot prove). The answer is the CPU sampler's: the n best raw logits by (value desc, id asc).
//
// Each thread keeps the kTopK largest raw values it sees (value and id in shared memory,
// [slot][thread]: conflict free) and one register, `threshold`: only a value above it is inserted,
// into the slot of the smallest, and the threshold becomes the smallest kept value. So whatever a
// thread did not keep is at most its final threshold, and with T0 the largest threshold of the
// block, every logit outside the lists is <= T0 (or NaN, which never counts). If at least n kept
// values are > T0, they hold the row's top-n exactly; if not (a thread that kept kTopK of the
// top-n may have dropped one, or a tie at T0), the row is left to the separate kernel. This is the
// test "no thread's K-th kept key among the selected n" in values: any slot of the smallest value
// may be evicted, and ties at the boundary only cost a fallback.
//
// From empty lists, some lane of a warp would insert in 2/3 of the warp's steps (each lane fills
// its list, then refills it ~K ln(N/K) times); so the threshold starts just below a bound from the
// row's first kTopSampleLoads * kThreads logits: the n-th largest of the threads' maxima there. At
// least n logits are that large, so nothing below it is in the top-n; and a wrong bound would only
// cost fallbacks, since exactness rests on the T0 test alone.
#pragma once
#include "sampling_resolve.cuh"

namespace pagedinfer::cuda::sampler {

constexpr int kTopK = 4;             // values kept per thread
constexpr int kTopFoldMaxN = 32;     // largest n folded (vLLM allows 20): one warp's list in begin()
constexpr int kTopSampleLoads = 16;  // logits per thread behind the starting threshold
constexpr int kTopBins = 1024;       // finish(): counts of the kept values over (T0, row max]
// Rows fold up to this vocabulary: the id-order draw's segment sums (sampling_walk.cuh, from the
// start of the shared memory) then stay below histM, where the lists are.
constexpr int kTopMaxVocab = 1 << 20;
constexpr int kWarps = kThreads / 32;
// The lists take the slow path's histM (kBins u64), unused until finish() is done.
static_assert(kTopK * kThreads * 8 <= kBins * 8, "top-n lists must fit the histogram of masses");
// finish() takes histC: kTopBins counts, then one candidate (u64) per thread.
static_assert(kTopBins * 4 + kThreads * 8 <= kBins * 4 && kTopBins % kThreads == 0, "finish() scratch");

// Descending bitonic merge of the warp's 32 values (a bitonic sequence).
__device__ __forceinline__ float warpMergeDesc(float v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = (lane & o) ? fminf(v, w) : fmaxf(v, w);
  }
  return v;
}

struct TopTracker {
  float* vals;      // this thread's slots: vals[k * kThreads], their ids kTopK * kThreads further
  float threshold;  // +inf when the row does not fold (nothing is ever inserted)

  __device__ __forceinline__ int& id(int k) { return reinterpret_cast<int*>(vals + kTopK * kThreads)[k * kThreads]; }

  // Every thread, with the same n (block-uniform). `lists`: kTopK * kThreads * 8 bytes of shared
  // memory, untouched until finish(); `scratch`: kThreads floats of shared memory, free until the
  // barrier at the end (this returns past it).
  __device__ void begin(void* lists, const float* lg, int vocab, int n, float* scratch) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    vals = reinterpret_cast<float*>(lists) + tid;
    threshold = INFINITY;
    if (n <= 0 || n > kTopFoldMaxN) return;
#pragma unroll
    for (int k = 0; k < kTopK; k++) vals[k * kThreads] = -INFINITY;  // empty: never counted
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < kTopSampleLoads; k++) {
      const int i = tid + k * kThreads;
      if (i < vocab) m = fmaxf(m, __ldg(lg + i));  // fmaxf drops NaN
    }
    // The n-th largest of the threads' maxima: each warp sorts its 32 (descending), then pairs of
    // sorted lists merge into their top 32 (the max of one against the other reversed, merged).
#pragma unroll
    for (int size = 2; size <= 32; size <<= 1)
#pragma unroll
      for (int o = size >> 1; o > 0; o >>= 1) {
        const float w = __shfl_xor_sync(0xffffffffu, m, o);
        m = (((lane & size) == 0) == ((lane & o) == 0)) ? fmaxf(m, w) : fminf(m, w);
      }
    __shared__ float bound;  // not in `scratch`, which the caller may write once past the barrier
    scratch[tid] = m;
    for (int h = 1; h < kWarps; h <<= 1) {
      __syncthreads();
      if (warp % (2 * h) == 0) {
        m = warpMergeDesc(fmaxf(scratch[tid], scratch[(warp + h) * 32 + 31 - lane]));
        scratch[tid] = m;
      }
    }
    if (tid == n - 1) bound = m;  // warp 0 holds the merged top 32
    __syncthreads();
    threshold = bound > -INFINITY ? nextafterf(bound, -INFINITY) : -INFINITY;
  }

  // Every raw logit of the row, exactly once (a logit offered twice would be counted twice).
  __device__ __forceinline__ void offer(int i, float l) {
    if (l > threshold) insert(i, l);  // false for NaN, and always when the row does not fold
  }

  __device__ __forceinline__ void insert(int i, float l) {
    float m1 = vals[0], m2 = INFINITY;  // the smallest kept value (slot s) and the next
    int s = 0;
#pragma unroll
    for (int k = 1; k < kTopK; k++) {
      const float v = vals[k * kThreads];
      if (v < m1) {
        m2 = m1;
        m1 = v;
        s = k;
      } else {
        m2 = fminf(m2, v);
      }
    }
    vals[s * kThreads] = l;
    id(s) = i;
    threshold = fmaxf(threshold, fminf(m2, l));  // -inf while a slot is empty: the bound stays
  }

  // Every thread, once every logit was offered. Writes the row's top n (ids, raw value - lse) and
  // returns true, or writes nothing and returns false. n, rawMax and lse are block-uniform;
  // `scratch`: kBins ints of shared memory, free (histC between the first read and the slow path).
  __device__ bool finish(int n, float rawMax, float lse, int* scratch, Scratch& sc, int32_t* outIds, float* outLps) {
    __shared__ int cut, count;
    const int tid = threadIdx.x;
    if (n <= 0 || n > kTopFoldMaxN || !(fabsf(rawMax) < INFINITY) || !(fabsf(lse) < INFINITY)) return false;
    int* hist = scratch;
    uint64_t* cand = reinterpret_cast<uint64_t*>(scratch + kTopBins);
    for (int b = tid; b < kTopBins; b += kThreads) hist[b] = 0;
    if (tid == 0) count = 0;
    const float t0 = blockReduce<kThreads>(threshold, [](float a, float b) { return fmaxf(a, b); }, sc.redF);
    // The kept values above T0 counted in bins over (T0, rawMax] (the 64 below rawMax when T0 is
    // -inf, the last bin open below): the bin of the n-th is found, and only those up to it ranked.
    const float range = t0 > -INFINITY ? rawMax - t0 : 64.0f;
    const float scale = range > 0.0f ? float(kTopBins) / range : 0.0f;
    const auto binOfValue = [&](float v) { return int(fminf(fmaxf((rawMax - v) * scale, 0.0f), float(kTopBins - 1))); };
#pragma unroll
    for (int k = 0; k < kTopK; k++) {
      const float v = vals[k * kThreads];
      if (v > t0) atomicAdd(&hist[binOfValue(v)], 1);
    }
    __syncthreads();
    blockInclusiveScanArray<kThreads>(hist, kTopBins, sc.redI);
    if (hist[kTopBins - 1] < n) {  // fewer than n above T0: not provable (uniform, as below)
      __syncthreads();
      return false;
    }
    constexpr int per = kTopBins / kThreads;
#pragma unroll
    for (int j = 0; j < per; j++) {
      const int b = tid * per + j;
      if (hist[b] >= n && (b == 0 || hist[b - 1] < n)) cut = b;
    }
    __syncthreads();
    const int c = cut, m = hist[c];
    if (m > kThreads) {  // one candidate per thread below (many equal values: rare)
      __syncthreads();
      return false;
    }
#pragma unroll
    for (int k = 0; k < kTopK; k++) {
      const float v = vals[k * kThreads];
      // v + 0.0f: -0 as +0, equal in the CPU's order (then the lower id first)
      if (v > t0 && binOfValue(v) <= c) cand[atomicAdd(&count, 1)] = orderKey(v + 0.0f, id(k));
    }
    __syncthreads();
    if (tid < m) {
      const uint64_t key = cand[tid];
      int rank = 0;
      for (int j = 0; j < m; j++) rank += cand[j] < key;
      if (rank < n) {
        outIds[rank] = keyId(key);
        outLps[rank] = keyValue(key) - lse;
      }
    }
    __syncthreads();  // the caller may reuse `scratch`
    return true;
  }
};

}  // namespace pagedinfer::cuda::sampler
