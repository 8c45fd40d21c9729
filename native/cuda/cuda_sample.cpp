// CudaBackend::sample: the host side of the fused sampler (sampling.cu). Per-row parameters and
// the rows' penalty tokens (made unique and counted here, sorted by id) go up in one copy; the
// kernels leave token, logprob and top-n per row; only those come back. A row the GPU flags (its
// cut points fell outside the candidate windows, which the float histogram can misjudge) is
// redone here by core/sampler.cpp on that row's logits, so every token is the CPU sampler's.
// Enqueue and finish are apart (Backend::overlapsSteps): the results land in the step's own pinned
// slot, and its ids also stay on the device for the next step's chained tokens.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/errors.h"
#include "../core/sampler.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "sampling.h"

namespace pagedinfer {

namespace {

size_t align16(size_t n) { return (n + 15) / 16 * 16; }

// (token, flags) of one row: repetition applies to every distinct prompt or output token,
// presence / frequency to output tokens with their counts (core/sampler.cpp's applyPenalties).
void penaltyEntries(const SampleParams& p, std::vector<cuda::PenaltyEntry>& out) {
  if (!p.penaltyTokens || p.numPenaltyTokens == 0) return;
  const bool rep = p.repetitionPenalty != 1.0f, counted = p.presencePenalty != 0.0f || p.frequencyPenalty != 0.0f;
  if (!rep && !counted) return;
  std::vector<int32_t> all(p.penaltyTokens, p.penaltyTokens + p.numPenaltyTokens);
  std::vector<int32_t> output(p.penaltyTokens + p.promptLen, p.penaltyTokens + p.numPenaltyTokens);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::sort(output.begin(), output.end());
  for (int32_t token : all) {
    int count = 0;
    if (counted) count = int(std::upper_bound(output.begin(), output.end(), token) - std::lower_bound(output.begin(), output.end(), token));
    const int flags = (rep ? 1 : 0) | (count << 1);
    if (flags) out.push_back(cuda::PenaltyEntry{token, flags});
  }
}

}  // namespace

void CudaBackend::enqueueSample(Tensor logits, const StepView& s, const StepView& host, StepOutput& out) {
  beginOp("sample");
  const int rows = int(logits.rows), vocab = int(logits.cols);
  if (logits.dtype != DType::F32) throw InvalidArgumentError("sample: logits must be float32");
  SampleSlot& slot = sampleSlots_[sampleTurn_];
  slot.logits = static_cast<const float*>(logits.data);
  slot.rows = rows;
  slot.vocab = vocab;
  slot.maxTopN = 0;
  slot.sampled = false;
  if (s.returnLogits) {
    out.logits.resize(size_t(rows) * vocab);
    CUDA_CHECK(cudaMemcpyAsync(out.logits.data(), logits.data, out.logits.size() * 4, cudaMemcpyDeviceToHost, stream_));
  }
  const SamplingView* sv = host.sampling;
  if (sv && rows > 0) {
    int maxTopN = 0;
    bool anyLogprobs = false;
    std::vector<cuda::SampleRowParams> params(static_cast<size_t>(rows));
    std::vector<cuda::PenaltyEntry> entries;
    for (int r = 0; r < rows; r++) {
      const SampleParams hp = rowParams(*sv, r);
      cuda::SampleRowParams& p = params[size_t(r)];
      p.invTemperature = hp.temperature > 0 ? 1.0f / hp.temperature : 0.0f;
      p.topP = hp.topP;
      p.logMinP = hp.minP > 0 ? std::log(hp.minP) : -INFINITY;
      p.repetition = hp.repetitionPenalty;
      p.presence = hp.presencePenalty;
      p.frequency = hp.frequencyPenalty;
      p.topK = hp.topK;
      p.greedy = hp.temperature < kGreedyTemperature || hp.topK == 1;
      p.walk = !p.greedy && walksById(hp, vocab);
      p.seed = hp.seed;
      p.outputIndex = int32_t(hp.outputIndex);
      p.numLogprobs = hp.numLogprobs;
      p.penaltyBegin = int32_t(entries.size());
      penaltyEntries(hp, entries);
      p.penaltyCount = int32_t(entries.size()) - p.penaltyBegin;
      maxTopN = std::max(maxTopN, std::min(hp.numLogprobs, vocab));
      anyLogprobs = anyLogprobs || hp.numLogprobs >= 0;
    }
    const size_t oParams = 0, oEntries = align16(params.size() * sizeof(cuda::SampleRowParams)),
                 oResults = oEntries + align16(std::max<size_t>(entries.size(), 1) * sizeof(cuda::PenaltyEntry)),
                 oIds = oResults + align16(size_t(rows) * sizeof(cuda::SampleRowResult)),
                 oLps = oIds + align16(size_t(rows) * maxTopN * 4), total = oLps + align16(size_t(rows) * maxTopN * 4);
    ensureDevice(sampleDevice_, total);
    ensureDevice(prevIds_, size_t(rows) * 4);
    ensurePinned(slot.pinned, total);
    uint8_t* h = static_cast<uint8_t*>(slot.pinned.ptr);
    uint8_t* d = static_cast<uint8_t*>(sampleDevice_.ptr);
    std::memcpy(h + oParams, params.data(), params.size() * sizeof(cuda::SampleRowParams));
    std::memcpy(h + oEntries, entries.data(), entries.size() * sizeof(cuda::PenaltyEntry));
    CUDA_CHECK(cudaMemcpyAsync(d, h, oResults, cudaMemcpyHostToDevice, stream_));
    auto* devResults = reinterpret_cast<cuda::SampleRowResult*>(d + oResults);
    CUDA_CHECK(cudaEventRecord(slot.begin, stream_));
    // Few greedy rows without penalties (a batch-1 decode): each row over several CTAs.
    const bool splitGreedy = splitGreedy_ && entries.empty() && rows <= cuda::kGreedySplitMaxRows && vocab % 4 == 0 &&
                             std::all_of(params.begin(), params.end(), [](const cuda::SampleRowParams& p) { return p.greedy; });
    if (splitGreedy) {
      ensureZeroedDevice(greedyScratch_, cuda::greedySplitScratchBytes(rows));
      cuda::launchGreedySplit(slot.logits, rows, vocab, reinterpret_cast<cuda::SampleRowParams*>(d + oParams), devResults,
                              greedyScratch_.ptr, stream_);
    } else {
      cuda::launchSample(slot.logits, rows, vocab, reinterpret_cast<cuda::SampleRowParams*>(d + oParams),
                         reinterpret_cast<cuda::PenaltyEntry*>(d + oEntries), !entries.empty(), anyLogprobs, devResults,
                         maxTopN, reinterpret_cast<int32_t*>(d + oIds), reinterpret_cast<float*>(d + oLps),
                         sampleBufferTarget_, stream_);
    }
    // Padding, and the rows whose top-n the sampler could not fold into its first read (or the split
    // greedy path, which does not look for it); it returns at once for the others.
    if (maxTopN > 0)
      cuda::launchTopLogprobs(slot.logits, rows, vocab, reinterpret_cast<cuda::SampleRowParams*>(d + oParams), devResults,
                              maxTopN, reinterpret_cast<int32_t*>(d + oIds), reinterpret_cast<float*>(d + oLps), stream_);
    CUDA_CHECK(cudaEventRecord(slot.end, stream_));
    // After both kernels: either may flag a row for the host.
    cuda::launchKeepSampledTokens(devResults, rows, static_cast<int32_t*>(prevIds_.ptr), stream_);
    CUDA_CHECK(cudaMemcpyAsync(h + oResults, d + oResults, total - oResults, cudaMemcpyDeviceToHost, stream_));
    slot.sampled = true;
    slot.maxTopN = maxTopN;
    slot.oResults = oResults;
    slot.oIds = oIds;
    slot.oLps = oLps;
  }
  CUDA_CHECK(cudaEventRecord(slot.done, stream_));
  if (profile_) profile_->closeStep(stream_);
  out.pendingSlot = sampleTurn_;
  sampleTurn_ ^= 1;
}

// Runs while the next step may be enqueued on another thread: it waits on its own event, reads its
// own slot, and the host fallback copies logits with a plain cudaMemcpy, never through stream_
// (which may be recording a graph on the other thread).
void CudaBackend::finishSample(const StepView& host, StepOutput& out) {
  if (out.pendingSlot < 0) return;
  SampleSlot& slot = sampleSlots_[out.pendingSlot];
  out.pendingSlot = -1;
  activate();
  CUDA_CHECK(cudaEventSynchronize(slot.done));
  if (!slot.sampled) return;
  const int rows = slot.rows, vocab = slot.vocab, maxTopN = slot.maxTopN;
  float ms = 0;
  if (cudaEventElapsedTime(&ms, slot.begin, slot.end) == cudaSuccess) sampleKernelMicros_ = 1000.0f * ms;

  const uint8_t* h = static_cast<const uint8_t*>(slot.pinned.ptr);
  const auto* results = reinterpret_cast<const cuda::SampleRowResult*>(h + slot.oResults);
  const auto* ids = reinterpret_cast<const int32_t*>(h + slot.oIds);
  const auto* lps = reinterpret_cast<const float*>(h + slot.oLps);
  out.maxTopN = maxTopN;
  out.tokens.resize(size_t(rows));
  out.logprobs.resize(size_t(rows));
  out.topIds.assign(ids, ids + size_t(rows) * maxTopN);
  out.topLogprobs.assign(lps, lps + size_t(rows) * maxTopN);
  std::vector<float> row;
  SampleScratch scratch;
  for (int r = 0; r < rows; r++) {
    if (results[r].status == 0) {
      out.tokens[size_t(r)] = results[r].token;
      out.logprobs[size_t(r)] = results[r].logprob;
      continue;
    }
    sampleFallbacks_++;
    out.resampledRows.push_back(r);
    row.resize(size_t(vocab));
    CUDA_CHECK(cudaMemcpy(row.data(), slot.logits + size_t(r) * vocab, size_t(vocab) * 4, cudaMemcpyDeviceToHost));
    const SampleResult res = sampleRow(row.data(), vocab, rowParams(*host.sampling, r), scratch,
                                       maxTopN ? out.topIds.data() + size_t(r) * maxTopN : nullptr,
                                       maxTopN ? out.topLogprobs.data() + size_t(r) * maxTopN : nullptr);
    out.tokens[size_t(r)] = res.token;
    out.logprobs[size_t(r)] = res.logprob;
  }
}

}  // namespace pagedinfer
