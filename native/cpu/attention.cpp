// Paged attention for a varlen batch: each new token attends causally to its sequence's context
// (positions 0..its own), whether it is one of a prefill chunk's tokens or a single decode token.
// K/V are read through the sequence's block table. One task per (token, query head): scores of
// the whole context into a buffer, a softmax, then the weighted sum of V rows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_backend.h"
#include "simd.h"

namespace pagedinfer {

namespace {

PAGEDINFER_SIMD_CLONES
void attendOne(float* out, const float* q, const float* kc, const float* vc, const int32_t* blockTable, int blockSize,
               int ctx, int kvStride, int headDim, float scale, float* scores) {
  float maxScore = -INFINITY;
  for (int t = 0; t < ctx; t++) {
    int64_t slot = int64_t(blockTable[t / blockSize]) * blockSize + t % blockSize;
    const float* kp = kc + slot * kvStride;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int d = 0;
    for (; d + 8 <= headDim; d += 8)
      for (int u = 0; u < 8; u++) acc[u] += q[d + u] * kp[d + u];
    float dot = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; d < headDim; d++) dot += q[d] * kp[d];
    scores[t] = dot * scale;
    maxScore = std::max(maxScore, scores[t]);
  }
  float sum = 0;
  for (int t = 0; t < ctx; t++) {
    scores[t] = std::exp(scores[t] - maxScore);
    sum += scores[t];
  }
  for (int d = 0; d < headDim; d++) out[d] = 0;
  for (int t = 0; t < ctx; t++) {
    int64_t slot = int64_t(blockTable[t / blockSize]) * blockSize + t % blockSize;
    const float* vp = vc + slot * kvStride;
    float p = scores[t];
    for (int d = 0; d < headDim; d++) out[d] += p * vp[d];
  }
  float inv = 1.0f / sum;
  for (int d = 0; d < headDim; d++) out[d] *= inv;
}

}  // namespace

void CpuBackend::pagedAttention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a) {
  const int groups = a.numHeads / a.numKvHeads;
  const int kvStride = a.numKvHeads * a.headDim;
  const float* kc = kCache(layer);
  const float* vc = vCache(layer);
  const int blockSize = kvShape().blockSize;
  const int64_t tasks = int64_t(s.numTokens) * a.numHeads;
  pool().parallelFor(tasks, 4, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores;
    for (int64_t i = i0; i < i1; i++) {
      int64_t t = i / a.numHeads;
      int h = int(i % a.numHeads);
      int seq = s.tokenSeq[t];
      int ctx = s.positions[t] + 1;
      if (scores.size() < size_t(ctx)) scores.resize(static_cast<size_t>(ctx));
      int kvHead = h / groups;
      attendOne(out.f32() + t * out.cols + h * a.headDim, q.f32() + t * q.cols + h * a.headDim, kc + kvHead * a.headDim,
                vc + kvHead * a.headDim, s.blockTable + int64_t(seq) * s.maxBlocksPerSeq, blockSize, ctx, kvStride,
                a.headDim, a.scale, scores.data());
    }
  });
}

}  // namespace pagedinfer
