// The CPU sampler: the plain row sampler of core/sampler.cpp over the step's logit rows, in
// parallel, writing the step's outputs.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/sampler.h"
#include "cpu_backend.h"

namespace pagedinfer {

void CpuBackend::enqueueSample(Tensor logits, const StepView& s, const StepView& host, StepOutput& out) {
  (void)host;
  const int rows = s.numLogitRows;
  const int vocab = int(logits.cols);
  if (s.returnLogits) out.logits.assign(logits.f32(), logits.f32() + int64_t(rows) * vocab);
  const SamplingView* sv = s.sampling;
  if (!sv) return;
  int maxTopN = 0;
  for (int r = 0; r < rows; r++) maxTopN = std::max(maxTopN, std::min(sv->numLogprobs[r], vocab));
  out.maxTopN = maxTopN;
  out.tokens.assign(size_t(rows), -1);
  out.logprobs.assign(size_t(rows), NAN);
  out.topIds.assign(size_t(rows) * maxTopN, -1);
  out.topLogprobs.assign(size_t(rows) * maxTopN, -INFINITY);
  pool().parallelFor(rows, 1, [&](int64_t r0, int64_t r1) {
    SampleScratch scratch;
    for (int64_t r = r0; r < r1; r++) {
      const SampleParams p = rowParams(*sv, int(r));
      SampleResult res = sampleRow(logits.f32() + r * vocab, vocab, p, scratch,
                                   maxTopN ? out.topIds.data() + r * maxTopN : nullptr,
                                   maxTopN ? out.topLogprobs.data() + r * maxTopN : nullptr);
      out.tokens[r] = res.token;
      out.logprobs[r] = res.logprob;
    }
  });
}

}  // namespace pagedinfer
