// The fused GPU sampler's host interface (sampling.cu, sampling_logprobs.cu). The backend packs one
// SampleRowParams per logit row and the rows' penalty tokens, already made unique and counted on
// the host, sorted by token (repetition applies to prompt + output tokens, presence/frequency to
// output tokens with their counts: core/sampler.cpp's rules).
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

namespace pagedinfer::cuda {

struct SampleRowParams {
  float invTemperature = 0;  // 1.0f / temperature, as the CPU sampler computes it
  float topP = 1;
  float logMinP = 0;  // std::log(minP); -inf when minP == 0
  float repetition = 1, presence = 0, frequency = 0;
  int32_t topK = 0;
  int32_t greedy = 0;  // temperature < kGreedyTemperature or topK == 1
  uint64_t seed = 0;
  int32_t outputIndex = 0;
  int32_t numLogprobs = -1;
  int32_t penaltyBegin = 0, penaltyCount = 0;  // entries of the penalty list
  int32_t walk = 0;  // drawn in id order (core/sampler.h's walksById)
  int32_t pad = 0;
};

// token | (count << 1) | repetition-applies bit
struct PenaltyEntry {
  int32_t token;
  int32_t flags;
};

// status: 0 done; 1 the GPU could not resolve the row exactly (a cut landed outside the candidate
// window, or the window overflowed): the host redoes it with the CPU sampler on the same logits.
struct SampleRowResult {
  int32_t token;
  float logprob;
  int32_t status;
  float rawMax;  // of the raw logits
  float rawLse;  // log-sum-exp of the raw logits (float(log(sum)) + max, as the CPU sampler)
  int32_t topDone;  // 1: launchSample wrote the row's top-n logprobs (launchTopLogprobs skips it)
  int32_t pad[2];
};

// Bytes of dynamic shared memory the sampler needs for a vocabulary (penalty bitmap included when
// any row has penalties).
size_t sampleSmemBytes(int vocab, bool penalties);
// anyPenalties / anyLogprobs: whether any row has penalty entries / numLogprobs >= 0 (each picks a
// kernel instance without the other's per-logit work). bufferTarget: values the first read aims to
// keep above its threshold (0: the default, 256).
// With maxTopN > 0 (topIds / topLogprobs [rows][maxTopN], as launchTopLogprobs) the kernel also
// finds each row's raw top-n during its first read where it can prove them (sampling_topn.cuh),
// writes entries [0, n) and sets topDone; launchTopLogprobs must still run after it (padding, and
// the rows not done).
void launchSample(const float* logits, int rows, int vocab, const SampleRowParams* params, const PenaltyEntry* penalties,
                  bool anyPenalties, bool anyLogprobs, SampleRowResult* results, int maxTopN, int32_t* topIds,
                  float* topLogprobs, int bufferTarget, cudaStream_t stream);
// Greedy rows without penalties, each split over kGreedySplit CTAs (sampling_greedy.cu): for a few
// rows (kGreedySplitMaxRows) and vocab % 4 == 0. `scratch`: greedySplitScratchBytes(rows), zero
// before the first launch (its arrival counters; the kernel leaves them zero).
constexpr int kGreedySplit = 32, kGreedySplitMaxRows = 16;
size_t greedySplitScratchBytes(int rows);
void launchGreedySplit(const float* logits, int rows, int vocab, const SampleRowParams* params, SampleRowResult* results,
                       void* scratch, cudaStream_t stream);
// Top-n raw logprobs of rows with numLogprobs > 0 (after launchSample: it reads rawMax/rawLse):
// topIds/topLogprobs [rows][maxTopN], padded with -1 / -inf. Rows with topDone set keep what
// launchSample wrote (only their padding is written). A row it cannot resolve gets status 1.
void launchTopLogprobs(const float* logits, int rows, int vocab, const SampleRowParams* params, SampleRowResult* results,
                       int maxTopN, int32_t* topIds, float* topLogprobs, cudaStream_t stream);

}  // namespace pagedinfer::cuda
