// Model::warmup: steps of every size class before the first request. On the CUDA backend the
// first GEMM of each (matrix, power-of-two token count) asks cuBLASLt for an algorithm and times
// its candidates (milliseconds); without a warm-up that cost lands in some request's step and
// stalls every stream in it.
#include <algorithm>
#include <vector>

#include "errors.h"
#include "model.h"

namespace pagedinfer {

namespace {

// n sequences of `tokens` tokens each, all reading KV block 0, writing no slot.
struct SyntheticStep {
  std::vector<int32_t> tokenIds, positions, queryStart{0}, seqLens, blockTable, slotMapping, logitRows;
  int width = 1;

  SyntheticStep(int n, int tokens, int blockSize) : width((tokens + blockSize - 1) / blockSize) {
    for (int s = 0; s < n; s++) {
      for (int p = 0; p < tokens; p++) {
        tokenIds.push_back(0);
        positions.push_back(p);
        slotMapping.push_back(-1);
      }
      queryStart.push_back(int32_t(tokenIds.size()));
      seqLens.push_back(tokens);
      blockTable.insert(blockTable.end(), size_t(width), 0);
      logitRows.push_back(int32_t(tokenIds.size()) - 1);
    }
  }

  StepView view() const {
    StepView v;
    v.numTokens = int(tokenIds.size());
    v.numSeqs = int(seqLens.size());
    v.maxBlocksPerSeq = width;
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

std::vector<int> powersOfTwoUpTo(int limit) {
  std::vector<int> sizes;
  for (int n = 1; n < limit; n *= 2) sizes.push_back(n);
  if (limit >= 1) sizes.push_back(limit);
  return sizes;
}

}  // namespace

void Model::warmup(int maxTokens, int maxSeqs, bool always) {
  if (maxTokens <= 0 || maxSeqs <= 0) throw InvalidArgumentError("warmup: sizes must be positive");
  if (kv_.numBlocks == 0) throw InvalidArgumentError("warmup before the KV cache was initialised");
  if (!always && !backend_->wantsWarmup()) return;
  StepOutput out;
  // Prefill-shaped steps: every matrix at every token bucket (mixed steps have the same shapes).
  for (int tokens : powersOfTwoUpTo(maxTokens)) {
    if (tokens < 2) continue;
    step(SyntheticStep(1, tokens, kv_.blockSize).view(), out);
  }
  // Decode-shaped steps: the output projection at every logit-row bucket.
  for (int n : powersOfTwoUpTo(std::min(maxSeqs, maxTokens))) step(SyntheticStep(n, 1, kv_.blockSize).view(), out);
}

}  // namespace pagedinfer
