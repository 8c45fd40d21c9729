// A step's index arrays owned on the host, for the steps native code builds itself (the model's
// warm-up, the benchmarks): sequences are appended, view() points a StepView at the arrays.
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

}  // namespace pagedinfer
