// Model::warmup: steps of every size class before the first request. On the CUDA backend the
// first GEMM of each (matrix, power-of-two token count) asks cuBLASLt for an algorithm and times
// its candidates (milliseconds); without a warm-up that cost lands in some request's step and
// stalls every stream in it.
#include <algorithm>
#include <vector>

#include "errors.h"
#include "host_step.h"
#include "model.h"

namespace pagedinfer {

namespace {

// n sequences of `tokens` tokens each, all reading KV block 0, writing no slot.
HostStep syntheticStep(int n, int tokens, int blockSize) {
  HostStep step;
  step.maxBlocksPerSeq = (tokens + blockSize - 1) / blockSize;
  const std::vector<int32_t> table(size_t(step.maxBlocksPerSeq), 0), slots(size_t(tokens), -1);
  for (int s = 0; s < n; s++) step.addSequence(0, tokens, 0, table, slots, true);
  return step;
}

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
    step(syntheticStep(1, tokens, kv_.blockSize).view(), out);
  }
  // Decode-shaped steps: the output projection at every logit-row bucket.
  for (int n : powersOfTwoUpTo(std::min(maxSeqs, maxTokens))) step(syntheticStep(n, 1, kv_.blockSize).view(), out);
}

}  // namespace pagedinfer
