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

// Scratch a caller reuses across rows to avoid allocation per token.
struct SampleScratch {
  std::vector<float> work;
  std::vector<std::pair<float, int32_t>> candidates;
  std::vector<int32_t> sortedTokens;
};

// Temperatures below this are greedy (as vLLM's sampling epsilon).
constexpr float kGreedyTemperature = 1e-5f;

// `topIds` / `topLogprobs` receive max(numLogprobs, 0) entries (the raw top-n), if non-null.
SampleResult sampleRow(const float* logits, int vocab, const SampleParams& p, SampleScratch& scratch,
                       int32_t* topIds, float* topLogprobs);

// Applies the penalties of p to work (a copy of the row's logits).
void applyPenalties(float* work, int vocab, const SampleParams& p, std::vector<int32_t>& sortedScratch);

}  // namespace pagedinfer
