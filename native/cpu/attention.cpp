// Paged attention for a varlen batch: each new token attends causally to its sequence's context
// (positions 0..its own), whether it is one of a prefill chunk's tokens or a single decode token.
// K/V are read through the sequence's block table. One task per (token, query head); the
// arithmetic is in simd_kernels.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_backend.h"
#include "simd_kernels.h"

namespace pagedinfer {


void CpuBackend::pagedAttention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a) {
  const int groups = a.numHeads / a.numKvHeads;
  const int kvStride = a.numKvHeads * a.headDim;
  const float* kc = kCache(layer);
  const float* vc = vCache(layer);
  const int blockSize = kvShape().blockSize;
  const int64_t tasks = int64_t(s.numTokens) * a.numHeads;
  const simd::AttendFn attendOne = simd::best().attend;
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
