// Token sampling for one row of logits, in plain C++: the CPU backend's sampler and the
// reference the GPU's fused sampler is tested against.
//
// Order (as vLLM): repetition / presence / frequency penalties on the raw logits; then greedy
// (temperature 0) or temperature, min-p, top-k, top-p and a draw from the seeded counter RNG.
// Logprobs are of the raw model distribution (before penalties and temperature).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "random.h"
#include "step.h"

namespace pagedinfer {

struct SampleParams {
  float temperature = 0;
  int topK = 0;
  float topP = 1;
  float minP = 0;
  float repetitionPenalty = 1;
  float presencePenalty = 0;
  float frequencyPenalty = 0;
  uint64_t seed = 0;
  int64_t outputIndex = 0;
  int numLogprobs = -1;
  const int32_t* penaltyTokens = nullptr;  // prompt tokens first, then output tokens
  int numPenaltyTokens = 0;
  int promptLen = 0;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0;
};

// Row r of a step's sampling parameters.
SampleParams rowParams(const SamplingView& sv, int r);

// Scratch a caller reuses across rows to avoid allocation per token.
struct SampleScratch {
  std::vector<float> work;
  std::vector<std::pair<float, int32_t>> candidates;
  std::vector<int32_t> sortedTokens;
  std::vector<float> segmentMax;  // the id-order draw's segments (walksById below)
  std::vector<uint64_t> segmentSum, segmentWeight;
};

// Temperatures below this are greedy (as vLLM's sampling epsilon).
constexpr float kGreedyTemperature = 1e-5f;

// Rows without top-k, top-p or min-p (vLLM's default request) need no order, so they are drawn in
// id order, which a GPU does in one read of the row instead of a sort. The row is cut into
// segments of kWalkSegment ids; in each, token i weighs q_i = trunc(walkExp(x_i - m_s) * 2^40)
// (x = logit / T after penalties, m_s the segment's largest x, random.h's walkExp: the same bits
// on every backend) and the segment W_s = trunc(sum(q) * walkExp(m_s - top)) in units of the
// row's top. Integer sums are exact in any order, so every backend finds the same token: the
// target trunc(u * sum(W)) picks the segment, and within it the first token whose running q
// passes the target rescaled to the segment's units. Tokens about 27 nats below their segment's
// largest weigh nothing (probability < 2e-12 each). A row whose top is not finite takes the
// sorted walk, as rows with cuts do.
constexpr int kWalkSegment = 512;
constexpr float kWalkUnit = 1099511627776.0f;  // 2^40: a segment sums to at most 2^49, exact in a double
inline bool walksById(const SampleParams& p, int vocab) {
  return p.temperature >= kGreedyTemperature && (p.topK <= 0 || p.topK >= vocab) && p.topK != 1 && p.topP >= 1.0f &&
         p.minP <= 0.0f;
}
// One token's weight in its segment, and the segment's weight in the row's units (both exact
// integer results of the same float operations everywhere).
PAGEDINFER_HD inline uint64_t walkTokenWeight(float x, float segmentMax) {
  return uint64_t(PAGEDINFER_FMUL(walkExp(PAGEDINFER_FADD(x, -segmentMax)), kWalkUnit));
}
PAGEDINFER_HD inline uint64_t walkSegmentWeight(uint64_t segmentSum, float segmentMax, float top) {
  return uint64_t(double(segmentSum) * double(walkExp(PAGEDINFER_FADD(segmentMax, -top))));
}
// The target inside segment s, in that segment's units: `t` of the segment's W, rescaled to its
// sum of q (clamped below that sum).
PAGEDINFER_HD inline uint64_t walkSegmentTarget(uint64_t t, uint64_t segmentWeight, uint64_t segmentSum) {
  const uint64_t v = uint64_t(double(t) / double(segmentWeight) * double(segmentSum));
  return v < segmentSum ? v : segmentSum - 1;
}
// The row's target of sum(W): u = uniform01(seed, outputIndex) of it, below the total.
PAGEDINFER_HD inline uint64_t walkRowTarget(double u, uint64_t total) {
  const uint64_t v = uint64_t(u * double(total));
  return v < total ? v : total - 1;
}

// `topIds` / `topLogprobs` receive max(numLogprobs, 0) entries (the raw top-n), if non-null.
SampleResult sampleRow(const float* logits, int vocab, const SampleParams& p, SampleScratch& scratch,
                       int32_t* topIds, float* topLogprobs);

// Applies the penalties of p to work (a copy of the row's logits).
void applyPenalties(float* work, int vocab, const SampleParams& p, std::vector<int32_t>& sortedScratch);

}  // namespace pagedinfer
