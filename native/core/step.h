// The StepBatch of lib/engine/step-batch.ts as native code sees it: pointers into the JS typed
// arrays (checked by native/addon/step_batch.cpp before a step runs), or their device copies.
#pragma once
#include <cstdint>
#include <vector>

namespace pagedinfer {

struct SamplingView {
  const float* temperature = nullptr;
  const int32_t* topK = nullptr;
  const float* topP = nullptr;
  const float* minP = nullptr;
  const float* repetitionPenalty = nullptr;
  const float* presencePenalty = nullptr;
  const float* frequencyPenalty = nullptr;
  const uint32_t* seeds = nullptr;  // (low, high) per row
  const int32_t* outputIndex = nullptr;
  const int32_t* numLogprobs = nullptr;
  const int32_t* penaltyTokens = nullptr;
  const int32_t* penaltyOffsets = nullptr;  // [rows + 1]
  const int32_t* penaltyPromptLens = nullptr;
  int numPenaltyTokens = 0;
};

struct StepView {
  int numTokens = 0;
  int numSeqs = 0;
  int maxBlocksPerSeq = 0;
  int numLogitRows = 0;
  int numBlockCopies = 0;
  const int32_t* tokenIds = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* queryStart = nullptr;
  const int32_t* seqLens = nullptr;
  const int32_t* blockTable = nullptr;
  const int32_t* slotMapping = nullptr;
  const int32_t* logitRows = nullptr;
  const int32_t* blockCopies = nullptr;  // (src, dst) pairs
  // Async scheduling: (tokenIndex, prevRow) pairs. Before the forward, tokenIds[tokenIndex] becomes
  // the token sampled at logit row prevRow of the step enqueued just before this one on the model.
  int numChainedTokens = 0;
  const int32_t* chainedTokens = nullptr;
  const SamplingView* sampling = nullptr;  // null: logits only
  bool returnLogits = false;
  // Non-zero when the backend padded this decode step to a graph bucket (see Backend::beginStep).
  int graphKey = 0;
  // Which sequence each token belongs to; derived from queryStart (by the addon, or the backend's
  // device copy) because kernels parallel over tokens need it.
  const int32_t* tokenSeq = nullptr;
};

struct StepOutput {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  int maxTopN = 0;
  std::vector<int32_t> topIds;
  std::vector<float> topLogprobs;
  std::vector<float> logits;  // [rows * vocab] when asked
  // Rows the host sampler redid after the device flagged them (CUDA): a step chained to this one
  // read a placeholder (token 0) for them, not the token returned here.
  std::vector<int32_t> resampledRows;
  // Set by a backend whose sample() only enqueued the work: which of its result slots
  // finishSample() completes.
  int pendingSlot = -1;
};

}  // namespace pagedinfer
