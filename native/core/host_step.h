// A step's index arrays owned on the host, for the steps native code builds itself (the model's
// warm-up, the benchmarks): sequences are appended, view() points a StepView at the arrays; and
// the rows' sampling parameters (HostSampling).
#pragma once
#include <cstdint>
#include <vector>

#include "step.h"

namespace pagedinfer {

struct HostStep {
  std::vector<int32_t> tokenIds, positions, queryStart{0}, seqLens, blockTable, slotMapping, logitRows;
  int maxBlocksPerSeq = 0;

  // One sequence whose tokens [from, to) are new this step (token ids all `token`), reading the
  // blocks of `table` (maxBlocksPerSeq entries) and writing `slots` (one per new token; -1: none).
  // With `sample`, its last token's logits are computed.
  void addSequence(int from, int to, int32_t token, const std::vector<int32_t>& table, const std::vector<int32_t>& slots,
                   bool sample) {
    for (int p = from; p < to; p++) {
      tokenIds.push_back(token);
      positions.push_back(p);
      slotMapping.push_back(slots[size_t(p - from)]);
    }
    queryStart.push_back(int32_t(tokenIds.size()));
    seqLens.push_back(to);
    blockTable.insert(blockTable.end(), table.begin(), table.end());
    if (sample) logitRows.push_back(int32_t(tokenIds.size()) - 1);
  }

  StepView view() const {
    StepView v;
    v.numTokens = int(tokenIds.size());
    v.numSeqs = int(seqLens.size());
    v.maxBlocksPerSeq = maxBlocksPerSeq;
    v.numLogitRows = int(logitRows.size());
    v.tokenIds = tokenIds.data();
    v.positions = positions.data();
    v.queryStart = queryStart.data();
    v.seqLens = seqLens.data();
    v.blockTable = blockTable.data();
    v.slotMapping = slotMapping.data();
    v.logitRows = logitRows.data();
    return v;
  }
};

// Per-row sampling parameters owned on the host, beside a HostStep (the benchmarks' steps): rows
// are appended with addRow, view() points a SamplingView at the arrays. No penalty tokens.
struct HostSampling {
  std::vector<float> temperature, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty;
  std::vector<int32_t> topK, outputIndex, numLogprobs, penaltyOffsets{0}, penaltyPromptLens;
  std::vector<uint32_t> seeds;  // (low, high) per row

  // A row without truncation or penalties (temperature 0: greedy); numLogprobs -1: none.
  void addRow(float rowTemperature, uint64_t seed, int32_t rowNumLogprobs = -1) {
    temperature.push_back(rowTemperature);
    topK.push_back(0);
    topP.push_back(1.0f);
    minP.push_back(0.0f);
    repetitionPenalty.push_back(1.0f);
    presencePenalty.push_back(0.0f);
    frequencyPenalty.push_back(0.0f);
    seeds.push_back(uint32_t(seed));
    seeds.push_back(uint32_t(seed >> 32));
    outputIndex.push_back(0);
    numLogprobs.push_back(rowNumLogprobs);
    penaltyOffsets.push_back(0);
    penaltyPromptLens.push_back(0);
  }

  // Valid until a row is added.
  SamplingView view() const {
    SamplingView v;
    v.temperature = temperature.data();
    v.topK = topK.data();
    v.topP = topP.data();
    v.minP = minP.data();
    v.repetitionPenalty = repetitionPenalty.data();
    v.presencePenalty = presencePenalty.data();
    v.frequencyPenalty = frequencyPenalty.data();
    v.seeds = seeds.data();
    v.outputIndex = outputIndex.data();
    v.numLogprobs = numLogprobs.data();
    v.penaltyOffsets = penaltyOffsets.data();
    v.penaltyPromptLens = penaltyPromptLens.data();
    return v;
  }
};

}  // namespace pagedinfer
