#include "sampler.h"

#include <algorithm>
#include <cmath>

#include "random.h"

namespace pagedinfer {

namespace {

// Higher logit first; the lower id wins ties, so greedy picks are reproducible.
bool before(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

void penalize(float* work, const int32_t* tokens, int n, std::vector<int32_t>& sorted,
              float repetition, float presence, float frequency) {
  sorted.assign(tokens, tokens + n);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j < sorted.size() && sorted[j] == sorted[i]) j++;
    float& l = work[sorted[i]];
    if (repetition != 1.0f) l = l > 0 ? l / repetition : l * repetition;
    if (presence != 0.0f || frequency != 0.0f) l -= presence + frequency * float(j - i);
    i = j;
  }
}

// The id-order draw of sampler.h's walksById rows; false when the row's top is not finite.
bool walkById(const float* work, int vocab, const SampleParams& p, SampleScratch& scratch, int32_t& token) {
  const float invT = 1.0f / p.temperature;
  const int segments = (vocab + kWalkSegment - 1) / kWalkSegment;
  std::vector<float>& segMax = scratch.segmentMax;
  std::vector<uint64_t>& segSum = scratch.segmentSum;
  std::vector<uint64_t>& segWeight = scratch.segmentWeight;
  segMax.assign(size_t(segments), -INFINITY);
  segSum.assign(size_t(segments), 0);
  float top = -INFINITY;
  for (int s = 0; s < segments; s++) {
    const int begin = s * kWalkSegment, end = std::min(vocab, begin + kWalkSegment);
    float m = -INFINITY;
    for (int i = begin; i < end; i++) m = std::fmax(m, work[i] * invT);  // NaN ignored
    uint64_t sum = 0;
    for (int i = begin; i < end; i++) sum += walkTokenWeight(work[i] * invT, m);
    segMax[size_t(s)] = m;
    segSum[size_t(s)] = sum;
    top = std::fmax(top, m);
  }
  if (!std::isfinite(top)) return false;
  segWeight.resize(size_t(segments));
  uint64_t total = 0;
  for (int s = 0; s < segments; s++) total += segWeight[size_t(s)] = walkSegmentWeight(segSum[size_t(s)], segMax[size_t(s)], top);
  const uint64_t target = walkRowTarget(uniform01(p.seed, uint64_t(p.outputIndex)), total);
  uint64_t before = 0;
  for (int s = 0; s < segments; s++) {
    const uint64_t w = segWeight[size_t(s)];
    if (target >= before + w) {
      before += w;
      continue;
    }
    const uint64_t t = walkSegmentTarget(target - before, w, segSum[size_t(s)]);
    uint64_t run = 0;
    const int begin = s * kWalkSegment, end = std::min(vocab, begin + kWalkSegment);
    for (int i = begin; i < end; i++) {
      run += walkTokenWeight(work[i] * invT, segMax[size_t(s)]);
      if (run > t) {
        token = i;
        return true;
      }
    }
  }
  return false;  // not reached: the segments' weights sum to the total
}

}  // namespace

SampleParams rowParams(const SamplingView& sv, int r) {
  SampleParams p;
  p.temperature = sv.temperature[r];
  p.topK = sv.topK[r];
  p.topP = sv.topP[r];
  p.minP = sv.minP[r];
  p.repetitionPenalty = sv.repetitionPenalty[r];
  p.presencePenalty = sv.presencePenalty[r];
  p.frequencyPenalty = sv.frequencyPenalty[r];
  p.seed = uint64_t(sv.seeds[2 * r]) | (uint64_t(sv.seeds[2 * r + 1]) << 32);
  p.outputIndex = sv.outputIndex[r];
  p.numLogprobs = sv.numLogprobs[r];
  p.penaltyTokens = sv.penaltyTokens ? sv.penaltyTokens + sv.penaltyOffsets[r] : nullptr;
  p.numPenaltyTokens = sv.penaltyOffsets[r + 1] - sv.penaltyOffsets[r];
  p.promptLen = sv.penaltyPromptLens[r];
  return p;
}

void applyPenalties(float* work, int vocab, const SampleParams& p, std::vector<int32_t>& sortedScratch) {
  (void)vocab;
  if (!p.penaltyTokens || p.numPenaltyTokens == 0) return;
  // Repetition penalty looks at prompt and output; presence and frequency at the output only.
  if (p.repetitionPenalty != 1.0f)
    penalize(work, p.penaltyTokens, p.numPenaltyTokens, sortedScratch, p.repetitionPenalty, 0, 0);
  if (p.presencePenalty != 0.0f || p.frequencyPenalty != 0.0f)
    penalize(work, p.penaltyTokens + p.promptLen, p.numPenaltyTokens - p.promptLen, sortedScratch, 1.0f,
             p.presencePenalty, p.frequencyPenalty);
}

SampleResult sampleRow(const float* logits, int vocab, const SampleParams& p, SampleScratch& scratch,
                       int32_t* topIds, float* topLogprobs) {
  std::vector<float>& work = scratch.work;
  work.assign(logits, logits + vocab);
  applyPenalties(work.data(), vocab, p, scratch.sortedTokens);

  SampleResult result;
  if (p.temperature < kGreedyTemperature || p.topK == 1) {
    int32_t best = 0;
    for (int32_t i = 1; i < vocab; i++)
      if (work[i] > work[best]) best = i;
    result.token = best;
  } else if (walksById(p, vocab) && walkById(work.data(), vocab, p, scratch, result.token)) {
    // drawn in id order
  } else {
    auto& cand = scratch.candidates;
    cand.clear();
    float maxLogit = -INFINITY;
    for (int32_t i = 0; i < vocab; i++) maxLogit = std::max(maxLogit, work[i]);
    const float invT = 1.0f / p.temperature;
    // min-p keeps tokens whose probability is at least minP times the top one's.
    const float floor = p.minP > 0 ? (maxLogit * invT + std::log(p.minP)) : -INFINITY;
    for (int32_t i = 0; i < vocab; i++) {
      float l = work[i] * invT;
      if (l >= floor && !std::isnan(l)) cand.emplace_back(l, i);
    }
    if (p.topK > 0 && size_t(p.topK) < cand.size()) {
      std::nth_element(cand.begin(), cand.begin() + p.topK, cand.end(), before);
      cand.resize(size_t(p.topK));
    }
    std::sort(cand.begin(), cand.end(), before);
    const double top = cand.empty() ? 0.0 : cand[0].first;
    double total = 0;
    std::vector<double> mass(cand.size());
    for (size_t i = 0; i < cand.size(); i++) total += mass[i] = std::exp(double(cand[i].first) - top);
    size_t keep = cand.size();
    if (p.topP < 1.0f) {
      // Smallest prefix whose probability reaches topP (the token that crosses it included).
      double cumulative = 0;
      for (size_t i = 0; i < cand.size(); i++) {
        cumulative += mass[i];
        if (cumulative >= double(p.topP) * total) {
          keep = i + 1;
          break;
        }
      }
      total = 0;
      for (size_t i = 0; i < keep; i++) total += mass[i];
    }
    double u = uniform01(p.seed, uint64_t(p.outputIndex)) * total;
    result.token = keep ? cand[keep - 1].second : 0;
    double cumulative = 0;
    for (size_t i = 0; i < keep; i++) {
      cumulative += mass[i];
      if (u < cumulative) {
        result.token = cand[i].second;
        break;
      }
    }
  }

  if (p.numLogprobs >= 0) {
    float maxRaw = -INFINITY;
    for (int32_t i = 0; i < vocab; i++) maxRaw = std::max(maxRaw, logits[i]);
    double sum = 0;
    for (int32_t i = 0; i < vocab; i++) sum += std::exp(double(logits[i]) - maxRaw);
    const float lse = float(std::log(sum)) + maxRaw;
    result.logprob = logits[result.token] - lse;
    if (p.numLogprobs > 0 && topIds) {
      auto& cand = scratch.candidates;
      cand.clear();
      for (int32_t i = 0; i < vocab; i++) cand.emplace_back(logits[i], i);
      int n = std::min(p.numLogprobs, vocab);
      std::partial_sort(cand.begin(), cand.begin() + n, cand.end(), before);
      for (int i = 0; i < n; i++) {
        topIds[i] = cand[i].second;
        topLogprobs[i] = cand[i].first - lse;
      }
    }
  } else {
    result.logprob = NAN;
  }
  return result;
}

}  // namespace pagedinfer
