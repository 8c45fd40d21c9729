// The sampler: greedy picks, logprobs, penalties, and the sampled distribution under
// temperature / top-k / top-p / min-p against an independent calculation of what it should be.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/sampler.h"
#include "harness.h"

namespace pagedinfer::test {
namespace {

struct Row {
  float temperature = 0, topP = 1, minP = 0, rep = 1, presence = 0, frequency = 0;
  int topK = 0, numLogprobs = -1, outputIndex = 0;
  uint64_t seed = 1;
  std::vector<int32_t> prompt, output;
};

StepOutput runSampler(Harness& h, const Vec& logits, int vocab, const std::vector<Row>& rows) {
  TestStep step;
  const int R = int(rows.size());
  step.queryStart = {0, R};
  step.seqLens = {R};
  step.penaltyOffsets.push_back(0);
  for (int r = 0; r < R; r++) {
    const Row& row = rows[r];
    step.tokenIds.push_back(0);
    step.positions.push_back(r);
    step.slotMapping.push_back(-1);
    step.logitRows.push_back(r);
    step.temperature.push_back(row.temperature);
    step.topK.push_back(row.topK);
    step.topP.push_back(row.topP);
    step.minP.push_back(row.minP);
    step.repetitionPenalty.push_back(row.rep);
    step.presencePenalty.push_back(row.presence);
    step.frequencyPenalty.push_back(row.frequency);
    step.seeds.push_back(uint32_t(row.seed));
    step.seeds.push_back(uint32_t(row.seed >> 32));
    step.outputIndex.push_back(row.outputIndex);
    step.numLogprobs.push_back(row.numLogprobs);
    step.penaltyTokens.insert(step.penaltyTokens.end(), row.prompt.begin(), row.prompt.end());
    step.penaltyTokens.insert(step.penaltyTokens.end(), row.output.begin(), row.output.end());
    step.penaltyOffsets.push_back(int32_t(step.penaltyTokens.size()));
    step.penaltyPromptLens.push_back(int32_t(row.prompt.size()));
  }
  const StepView& host = step.finish(true);
  const StepView& dev = h.backend().beginStep(host);
  StepOutput out;
  h.backend().sample(h.tensor(R, vocab, logits, DType::F32), dev, host, out);
  return out;
}

// The CPU sampler's parameters for a test row (penalty: its prompt then output tokens).
SampleParams hostParams(const Row& c, const std::vector<int32_t>& penalty) {
  SampleParams p;
  p.temperature = c.temperature;
  p.topK = c.topK;
  p.topP = c.topP;
  p.minP = c.minP;
  p.repetitionPenalty = c.rep;
  p.presencePenalty = c.presence;
  p.frequencyPenalty = c.frequency;
  p.seed = c.seed;
  p.outputIndex = c.outputIndex;
  p.numLogprobs = c.numLogprobs;
  p.penaltyTokens = penalty.data();
  p.numPenaltyTokens = int(penalty.size());
  p.promptLen = int(c.prompt.size());
  return p;
}

int argmax(const double* l, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (l[i] > l[best]) best = i;
  return best;
}

Register greedy("sampling: greedy", [](Harness& h) {
  const int vocab = 1000, R = 6;
  Vec logits = h.randomVec(size_t(R * vocab), -8, 8);
  logits[3 * vocab + 400] = logits[3 * vocab + 17] = 20;  // a tie: the lower id wins
  std::vector<Row> rows(R);
  rows[4].temperature = 0.8f;
  rows[4].topK = 1;  // top-k 1 is greedy at any temperature
  rows[5].temperature = 1e-7f;
  StepOutput out = runSampler(h, logits, vocab, rows);
  for (int r = 0; r < R; r++) {
    int want = argmax(&logits[r * vocab], vocab);
    h.expect("row " + std::to_string(r), out.tokens.size() == size_t(R) && out.tokens[r] == want,
             "got " + std::to_string(out.tokens.empty() ? -1 : out.tokens[r]) + ", argmax " + std::to_string(want));
  }
});

// A few greedy rows of a large vocabulary (the CUDA backend splits each over several CTAs), with
// a tie across the row, a NaN, and logprobs (chosen and top-n, which read the row's log-sum-exp).
Register greedyLarge("sampling: greedy rows of a large vocabulary, with logprobs", [](Harness& h) {
  const int vocab = 128000, R = 4;
  Vec logits = h.randomVec(size_t(R * vocab), -8, 8);
  // The sampler sees float32 logits: the expected arg-max and order come from those values (two
  // doubles that round to one float tie there, and the lower id wins).
  for (double& v : logits) v = double(float(v));
  logits[0 * vocab + 127990] = logits[0 * vocab + 3] = 30;  // a tie at both ends: the lower id wins
  logits[2 * vocab + 5] = std::nan("");                     // never chosen
  std::vector<Row> rows(R);
  rows[0].numLogprobs = 0;
  rows[1].numLogprobs = 3;
  rows[3].numLogprobs = 1;
  StepOutput out = runSampler(h, logits, vocab, rows);
  h.expect("rows", out.tokens.size() == size_t(R));
  for (int r = 0; r < R && out.tokens.size() == size_t(R); r++) {
    const double* l = &logits[size_t(r) * vocab];
    int want = r == 2 ? 0 : argmax(l, vocab);
    if (r == 2)
      for (int i = 1; i < vocab; i++)
        if (!std::isnan(l[i]) && (std::isnan(l[want]) || l[i] > l[want])) want = i;
    h.expect("row " + std::to_string(r), out.tokens[size_t(r)] == want,
             "got " + std::to_string(out.tokens[size_t(r)]) + ", argmax " + std::to_string(want));
    if (rows[size_t(r)].numLogprobs < 0) {
      h.expect("no logprob row " + std::to_string(r), std::isnan(out.logprobs[size_t(r)]));
      continue;
    }
    double m = *std::max_element(l, l + vocab), sum = 0;
    for (int i = 0; i < vocab; i++) sum += std::exp(l[i] - m);
    const double lse = m + std::log(sum), lp = l[want] - lse;
    h.expect("chosen logprob row " + std::to_string(r), std::fabs(out.logprobs[size_t(r)] - lp) < 1e-3,
             std::to_string(out.logprobs[size_t(r)]) + " vs " + std::to_string(lp));
  }
  if (out.maxTopN == 3) {
    const double* l = &logits[size_t(vocab)];
    double m = *std::max_element(l, l + vocab), sum = 0;
    for (int i = 0; i < vocab; i++) sum += std::exp(l[i] - m);
    std::vector<int> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                      [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    for (int i = 0; i < 3; i++)
      h.expect("row 1 top logprob " + std::to_string(i), out.topIds[size_t(3 + i)] == order[size_t(i)] &&
                                                           std::fabs(out.topLogprobs[size_t(3 + i)] - (l[order[size_t(i)]] - m - std::log(sum))) < 1e-3);
  } else {
    h.expect("maxTopN", false, std::to_string(out.maxTopN));
  }
});

Register logprobs("sampling: logprobs", [](Harness& h) {
  const int vocab = 500;
  Vec logits = h.randomVec(size_t(3 * vocab), -5, 5);
  std::vector<Row> rows(3);
  rows[0].numLogprobs = 0;
  rows[1].numLogprobs = 5;
  rows[1].temperature = 1.0f;
  rows[1].seed = 99;
  rows[2].numLogprobs = -1;
  StepOutput out = runSampler(h, logits, vocab, rows);
  h.expect("maxTopN", out.maxTopN == 5, std::to_string(out.maxTopN));
  for (int r = 0; r < 2; r++) {
    const double* l = &logits[r * vocab];
    double m = *std::max_element(l, l + vocab), sum = 0;
    for (int i = 0; i < vocab; i++) sum += std::exp(l[i] - m);
    double lse = m + std::log(sum);
    double want = l[out.tokens[r]] - lse;
    h.expect("chosen logprob row " + std::to_string(r), std::fabs(out.logprobs[r] - want) < 1e-4,
             std::to_string(out.logprobs[r]) + " vs " + std::to_string(want));
    if (r == 1) {
      std::vector<int> order(static_cast<size_t>(vocab));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
      for (int i = 0; i < 5; i++) {
        h.expect("top id " + std::to_string(i), out.topIds[r * 5 + i] == order[i]);
        h.expect("top logprob " + std::to_string(i), std::fabs(out.topLogprobs[r * 5 + i] - (l[order[i]] - lse)) < 1e-4);
      }
    }
  }
  h.expect("no logprob when not asked", std::isnan(out.logprobs[2]));
});

Register penalties("sampling: repetition / presence / frequency penalties", [](Harness& h) {
  const int vocab = 64;
  for (int trial = 0; trial < 50; trial++) {
    Row row;
    row.rep = float(h.uniform(1.0, 2.0));
    row.presence = float(h.uniform(-1.0, 2.0));
    row.frequency = float(h.uniform(-0.5, 1.5));
    for (int i = 0; i < 4; i++) row.prompt.push_back(h.randint(0, vocab - 1));
    for (int i = 0; i < 6; i++) row.output.push_back(h.randint(0, 9));  // repeats likely
    Vec logits = h.randomVec(size_t(vocab), -3, 3);
    Vec want = logits;
    std::map<int, int> outputCounts;
    for (int t : row.output) outputCounts[t]++;
    std::vector<int> seen(row.prompt.begin(), row.prompt.end());
    seen.insert(seen.end(), row.output.begin(), row.output.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int t : seen) want[t] = want[t] > 0 ? want[t] / row.rep : want[t] * row.rep;
    for (auto [t, n] : outputCounts) want[t] -= row.presence + row.frequency * n;
    StepOutput out = runSampler(h, logits, vocab, {row});
    int expected = argmax(want.data(), vocab);
    h.expect("trial " + std::to_string(trial), out.tokens[0] == expected,
             "got " + std::to_string(out.tokens[0]) + ", want " + std::to_string(expected));
  }
});

// What the sampler should draw from: temperature, then min-p, top-k, top-p on what is left.
Vec expectedDistribution(const Vec& logits, const Row& row) {
  const int n = int(logits.size());
  Vec p(static_cast<size_t>(n));
  double m = *std::max_element(logits.begin(), logits.end()) / row.temperature, total = 0;
  for (int i = 0; i < n; i++) total += p[i] = std::exp(logits[i] / row.temperature - m);
  for (double& x : p) x /= total;
  double pmax = *std::max_element(p.begin(), p.end());
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<bool> keep(size_t(n), true);
  for (int i = 0; i < n; i++)
    if (p[i] < row.minP * pmax) keep[i] = false;
  int rank = 0;
  for (int id : order)
    if (keep[id] && row.topK > 0 && ++rank > row.topK) keep[id] = false;
  double kept = 0;
  for (int i = 0; i < n; i++) kept += keep[i] ? p[i] : 0;
  double cumulative = 0;
  bool reached = false;
  for (int id : order) {
    if (!keep[id]) continue;
    if (reached) {
      keep[id] = false;
      continue;
    }
    cumulative += p[id];
    if (cumulative >= row.topP * kept) reached = true;
  }
  double z = 0;
  for (int i = 0; i < n; i++) z += keep[i] ? p[i] : 0;
  for (int i = 0; i < n; i++) p[i] = keep[i] ? p[i] / z : 0;
  return p;
}

Register distribution("sampling: distribution under temperature / top-k / top-p / min-p", [](Harness& h) {
  const int vocab = 12, N = 6000;
  Vec logits = h.randomVec(size_t(vocab), -2, 2);
  struct Config { float t; int k; float p, minP; };
  const Config configs[] = {{1.0f, 0, 1, 0}, {0.7f, 5, 1, 0}, {1.3f, 0, 0.8f, 0}, {1.0f, 0, 1, 0.2f}, {0.9f, 6, 0.9f, 0.05f}};
  for (const Config& c : configs) {
    std::vector<Row> rows(N);
    Vec batch;
    for (int i = 0; i < N; i++) {
      rows[i].temperature = c.t;
      rows[i].topK = c.k;
      rows[i].topP = c.p;
      rows[i].minP = c.minP;
      rows[i].seed = 12345;
      rows[i].outputIndex = i;
      batch.insert(batch.end(), logits.begin(), logits.end());
    }
    StepOutput out = runSampler(h, batch, vocab, rows);
    Vec want = expectedDistribution(logits, rows[0]);
    Vec freq(size_t(vocab), 0.0);
    for (int t : out.tokens) freq[t] += 1.0 / N;
    double worst = 0;
    bool excludedDrawn = false;
    for (int i = 0; i < vocab; i++) {
      worst = std::max(worst, std::fabs(freq[i] - want[i]));
      if (want[i] == 0 && freq[i] > 0) excludedDrawn = true;
    }
    std::string name = "T=" + std::to_string(c.t) + " k=" + std::to_string(c.k) + " p=" + std::to_string(c.p) +
                       " minP=" + std::to_string(c.minP);
    h.expect(name + ": frequencies", worst < 0.025, "largest |freq - p| " + std::to_string(worst));
    h.expect(name + ": excluded tokens never drawn", !excludedDrawn);
  }
});

// core/random.h's walkExp: the id-order draw's exp, computed with the same bits on every backend.
Register walkExpAccuracy("sampling: walkExp against exp", [](Harness& h) {
  double worst = 0;
  for (int k = 0; k < 20000; k++) {
    const float d = float(h.uniform(-87, 0));
    worst = std::max(worst, std::fabs(double(walkExp(d)) / std::exp(double(d)) - 1));
  }
  // d log2(e) rounded to float bounds it: ~ulp(126) ln 2 = 5e-6 at the bottom of the range.
  h.expect("relative error", worst < 1e-5, std::to_string(worst));
  h.expect("exactly 1 at 0", walkExp(0.0f) == 1.0f);
  h.expect("0 far below and for NaN", walkExp(-200.0f) == 0.0f && walkExp(std::nanf("")) == 0.0f);
});

// Rows without a cut are drawn in id order over segments of kWalkSegment tokens, each weighed
// against the row's top: the frequencies over a few segments of very different heights (and a
// NaN, never drawn) must be the softmax's.
Register walkDistribution("sampling: rows without a cut drawn over several segments follow the softmax", [](Harness& h) {
  const int vocab = 3 * kWalkSegment + 37, N = 12000;
  Vec logits(static_cast<size_t>(vocab));
  for (int i = 0; i < vocab; i++) {
    const int seg = i / kWalkSegment;
    const double lift = seg == 1 ? 3.0 : seg == 2 ? -4.0 : seg == 3 ? 1.0 : 0.0;
    logits[size_t(i)] = double(float(h.uniform(-2, 2) + lift));
  }
  for (int i = 0; i < 8; i++) logits[size_t(h.randint(0, vocab - 1))] += 6;  // a few peaks
  const int nanAt = h.randint(0, vocab - 1);
  logits[size_t(nanAt)] = std::nan("");
  const float temperature = 0.9f;
  std::vector<Row> rows(N);
  Vec batch;
  batch.reserve(size_t(N) * vocab);
  for (int i = 0; i < N; i++) {
    rows[i].temperature = temperature;
    rows[i].seed = 4242;
    rows[i].outputIndex = i;
    batch.insert(batch.end(), logits.begin(), logits.end());
  }
  StepOutput out = runSampler(h, batch, vocab, rows);
  h.expect("rows", out.tokens.size() == size_t(N));
  if (out.tokens.size() != size_t(N)) return;
  Vec p(static_cast<size_t>(vocab), 0.0);
  double m = -INFINITY, total = 0;
  for (double l : logits)
    if (!std::isnan(l)) m = std::max(m, double(float(l) * (1.0f / temperature)));
  for (int i = 0; i < vocab; i++)
    if (!std::isnan(logits[size_t(i)])) total += p[size_t(i)] = std::exp(double(float(logits[size_t(i)]) * (1.0f / temperature)) - m);
  for (double& x : p) x /= total;
  // Per segment, and per token for the ten most likely.
  Vec wantSeg(4, 0.0), gotSeg(4, 0.0), got(static_cast<size_t>(vocab), 0.0);
  for (int i = 0; i < vocab; i++) wantSeg[size_t(i / kWalkSegment)] += p[size_t(i)];
  bool nanDrawn = false;
  for (int t : out.tokens) {
    gotSeg[size_t(t / kWalkSegment)] += 1.0 / N;
    got[size_t(t)] += 1.0 / N;
    nanDrawn |= t == nanAt;
  }
  double worst = 0;
  for (int s = 0; s < 4; s++) worst = std::max(worst, std::fabs(gotSeg[size_t(s)] - wantSeg[size_t(s)]));
  std::vector<int> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 10, order.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
  for (int k = 0; k < 10; k++) worst = std::max(worst, std::fabs(got[size_t(order[size_t(k)])] - p[size_t(order[size_t(k)])]));
  h.expect("frequencies", worst < 0.02, "largest |freq - p| " + std::to_string(worst));
  h.expect("the NaN token is never drawn", !nanDrawn);
});

Register seeds("sampling: seeds are reproducible and independent of the batch", [](Harness& h) {
  const int vocab = 50;
  Vec logits = h.randomVec(size_t(vocab), -1, 1);
  std::vector<Row> alone(1), batched(4);
  alone[0].temperature = 1.0f;
  alone[0].seed = 0xabcdef0123ull;
  alone[0].outputIndex = 7;
  for (int i = 0; i < 4; i++) {
    batched[i] = alone[0];
    batched[i].seed = i == 2 ? alone[0].seed : 1000 + i;
  }
  Vec four;
  for (int i = 0; i < 4; i++) four.insert(four.end(), logits.begin(), logits.end());
  StepOutput a = runSampler(h, logits, vocab, alone);
  StepOutput b = runSampler(h, four, vocab, batched);
  h.expect("same seed, same token", a.tokens[0] == b.tokens[2]);
  std::vector<Row> many(64);
  Vec all;
  for (int i = 0; i < 64; i++) {
    many[i].temperature = 1.0f;
    many[i].seed = uint64_t(i) * 7919;
    all.insert(all.end(), logits.begin(), logits.end());
  }
  StepOutput c = runSampler(h, all, vocab, many);
  std::vector<int> distinct(c.tokens.begin(), c.tokens.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  h.expect("different seeds spread", distinct.size() > 10, std::to_string(distinct.size()) + " distinct tokens");
});

// The backend's tokens against core/sampler.cpp's on the same logits: a large vocabulary (flat
// rows drawn deep and peaked rows), every truncation and penalties. Exact equality is expected (the
// GPU places the cuts with the CPU's order and double cumulative masses).
Register matchesCpu("sampling: tokens and logprobs equal the CPU sampler's (large vocabulary)", [](Harness& h) {
  const int vocab = 100000, R = 48;
  Vec logits(size_t(R) * vocab);
  std::vector<Row> rows(R);
  for (int r = 0; r < R; r++) {
    const bool flat = r % 2 == 0;
    for (int i = 0; i < vocab; i++) logits[size_t(r) * vocab + i] = flat ? h.uniform(-3, 3) : h.uniform(-6, 2);
    if (!flat)
      for (int i = 0; i < 50; i++) logits[size_t(r) * vocab + h.randint(0, vocab - 1)] += h.uniform(4, 12);
    Row& row = rows[r];
    const float temps[] = {1.0f, 0.7f, 1.5f};
    const int ks[] = {0, 40, 1000, 0};
    const float ps[] = {1.0f, 0.9f, 1.0f, 0.5f};
    row.temperature = temps[r % 3];
    row.topK = ks[(r / 3) % 4];
    row.topP = ps[(r / 2) % 4];
    row.minP = r % 5 == 0 ? 0.05f : 0.0f;
    row.seed = 1000 + uint64_t(r);
    row.outputIndex = r * 3;
    row.numLogprobs = r % 4 == 0 ? 3 : 0;
    if (r % 7 == 0) {
      row.rep = 1.3f;
      row.presence = 0.5f;
      row.frequency = 0.2f;
      for (int i = 0; i < 20; i++) row.prompt.push_back(h.randint(0, vocab - 1));
      for (int i = 0; i < 30; i++) row.output.push_back(h.randint(0, 200));
    }
  }
  StepOutput out = runSampler(h, logits, vocab, rows);
  SampleScratch scratch;
  std::vector<float> row(static_cast<size_t>(vocab));
  int mismatches = 0;
  for (int r = 0; r < R; r++) {
    for (int i = 0; i < vocab; i++) row[i] = float(logits[size_t(r) * vocab + i]);
    const Row& c = rows[r];
    std::vector<int32_t> penalty(c.prompt.begin(), c.prompt.end());
    penalty.insert(penalty.end(), c.output.begin(), c.output.end());
    const SampleParams p = hostParams(c, penalty);
    std::vector<int32_t> ids(3);
    std::vector<float> lps(3);
    const SampleResult want = sampleRow(row.data(), vocab, p, scratch, ids.data(), lps.data());
    if (out.tokens[r] != want.token) mismatches++;
    h.expect("row " + std::to_string(r) + " token", out.tokens[r] == want.token,
             "got " + std::to_string(out.tokens[r]) + ", CPU sampler " + std::to_string(want.token));
    h.expect("row " + std::to_string(r) + " logprob", std::fabs(out.logprobs[r] - want.logprob) < 1e-4,
             std::to_string(out.logprobs[r]) + " vs " + std::to_string(want.logprob));
    if (c.numLogprobs > 0)
      for (int i = 0; i < 3; i++)
        h.expect("row " + std::to_string(r) + " top " + std::to_string(i), out.topIds[r * out.maxTopN + i] == ids[i]);
  }
  (void)mismatches;
});

// Rows without a cut on a vocabulary that is not a multiple of 4 (the GPU kernels' scalar loads):
// the backend's tokens against the CPU sampler's, flat and peaked rows, temperatures 0.6-1.35.
Register oddVocabMatchesCpu("sampling: rows without a cut, an odd vocabulary, equal the CPU sampler's", [](Harness& h) {
  const int vocab = 50001, R = 16;
  Vec logits(size_t(R) * vocab);
  std::vector<Row> rows(R);
  for (int r = 0; r < R; r++) {
    for (int i = 0; i < vocab; i++) logits[size_t(r) * vocab + i] = double(float(h.uniform(-4, 4)));
    if (r % 2)
      for (int i = 0; i < 30; i++) logits[size_t(r) * vocab + h.randint(0, vocab - 1)] += double(float(h.uniform(4, 10)));
    rows[r].temperature = 0.6f + 0.05f * float(r);
    rows[r].seed = 77 + uint64_t(r);
    rows[r].outputIndex = r;
  }
  StepOutput out = runSampler(h, logits, vocab, rows);
  h.expect("rows", out.tokens.size() == size_t(R));
  SampleScratch scratch;
  std::vector<float> row(static_cast<size_t>(vocab));
  for (int r = 0; r < R && out.tokens.size() == size_t(R); r++) {
    for (int i = 0; i < vocab; i++) row[i] = float(logits[size_t(r) * vocab + i]);
    const SampleResult want = sampleRow(row.data(), vocab, hostParams(rows[r], {}), scratch, nullptr, nullptr);
    h.expect("row " + std::to_string(r), out.tokens[r] == want.token,
             "got " + std::to_string(out.tokens[r]) + ", CPU sampler " + std::to_string(want.token));
  }
});

// The raw top-n logprobs (numLogprobs > 0) of rows of every kind against core/sampler.cpp's
// sampleRow: ids exactly, logprobs within 1e-4, entries past a row's n padded with -1 / -inf. The
// CUDA sampler finds the top-n during its first read where it can prove it (sampling_topn.cuh)
// and leaves the other rows to a second kernel; these logits give it ties at the top and at the
// n-th place, a NaN, a flat row, and rows whose logits increase with the id (every logit would
// enter a per-thread list: those rows must take the second kernel and still be right).

void checkTopLogprobs(Harness& h, int vocab, const std::string& set) {
  enum Shape { kLlm, kNan, kFlat, kIncreasing };
  struct Spec { int kind, n; Shape shape; };
  std::vector<Spec> specs;
  for (int kind = 0; kind < 5; kind++)
    for (int n : {1, 5, 20}) specs.push_back({kind, n, kLlm});
  for (int n : {1, 5, 20}) specs.push_back({n == 1 ? 0 : n == 5 ? 1 : 2, n, kIncreasing});
  specs.push_back({0, 20, kNan});
  specs.push_back({2, 5, kNan});
  specs.push_back({1, 20, kFlat});
  specs.push_back({2, 0, kLlm});   // chosen logprob only: padded
  specs.push_back({3, -1, kLlm});  // no logprobs: padded
  const int R = int(specs.size()), maxN = 20;
  std::vector<Row> rows(static_cast<size_t>(R));
  for (int r = 0; r < R; r++) {
    Row& row = rows[size_t(r)];
    const int kind = specs[size_t(r)].kind;
    row.temperature = kind == 0 ? 0.0f : kind == 1 ? 1.0f : kind == 2 ? 0.7f : kind == 3 ? 0.8f : 0.9f;
    row.topP = kind == 2 ? 0.9f : 1.0f;
    row.topK = kind == 3 ? 50 : 0;
    row.minP = kind == 3 ? 0.05f : 0.0f;
    row.seed = 500 + uint64_t(h.randint(0, 1 << 20));
    row.outputIndex = r;
    row.numLogprobs = specs[size_t(r)].n;
    if (kind == 4) {
      row.rep = 1.3f;
      row.presence = 0.5f;
      row.frequency = 0.2f;
      for (int i = 0; i < 20; i++) row.prompt.push_back(h.randint(0, vocab - 1));
      for (int i = 0; i < 30; i++) row.output.push_back(h.randint(0, 200));
    }
  }
  // Float values (what the kernels see), fresh per call.
  const auto makeLogits = [&]() {
    Vec logits(size_t(R) * vocab);
    for (int r = 0; r < R; r++) {
      double* l = &logits[size_t(r) * vocab];
      const Shape shape = specs[size_t(r)].shape;
      if (shape == kIncreasing) {
        for (int i = 0; i < vocab; i++) l[i] = double(float(-10.0 + 20.0 * i / vocab));
        continue;
      }
      for (int i = 0; i < vocab; i++) l[i] = double(float(shape == kFlat ? h.uniform(-3, 3) : h.uniform(-4, 4)));
      if (shape == kFlat) continue;
      for (int i = 0; i < 40; i++) {
        double& v = l[h.randint(0, vocab - 1)];
        v = double(float(v + h.uniform(4, 12)));
      }
      // Ties (the lower id first): the top value at two ids, then the n-th best value at the next.
      std::vector<int> order(static_cast<size_t>(vocab));
      std::iota(order.begin(), order.end(), 0);
      const auto rank = [&]() {
        std::partial_sort(order.begin(), order.begin() + maxN + 1, order.end(),
                          [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
      };
      rank();
      const int other = (order[3] + h.randint(1, vocab - 1)) % vocab;
      l[order[3]] = l[other] = double(float(l[order[0]] + 1.0));
      rank();
      const int n = std::max(1, specs[size_t(r)].n);
      l[order[size_t(n)]] = l[order[size_t(n - 1)]];
      if (shape == kNan) l[h.randint(maxN + 1, vocab - 1)] = std::nan("");  // past the first n ids: see below
    }
    return logits;
  };
  // First a run on other logits, so that whatever the device output buffers still hold is wrong.
  runSampler(h, makeLogits(), vocab, rows);
  const Vec logits = makeLogits();
  StepOutput out = runSampler(h, logits, vocab, rows);
  h.expect(set + " rows", out.tokens.size() == size_t(R) && out.maxTopN == maxN,
           std::to_string(out.tokens.size()) + " rows, maxTopN " + std::to_string(out.maxTopN));
  if (out.tokens.size() != size_t(R) || out.maxTopN != maxN) return;
  SampleScratch scratch;
  std::vector<float> row(static_cast<size_t>(vocab));
  for (int r = 0; r < R; r++) {
    const Row& c = rows[size_t(r)];
    const int n = std::max(0, c.numLogprobs);
    for (int i = 0; i < vocab; i++) row[size_t(i)] = float(logits[size_t(r) * vocab + i]);
    std::vector<int32_t> penalty(c.prompt.begin(), c.prompt.end());
    penalty.insert(penalty.end(), c.output.begin(), c.output.end());
    std::vector<int32_t> ids(size_t(maxN), -1);
    std::vector<float> lps(size_t(maxN), -INFINITY);
    const SampleResult want = sampleRow(row.data(), vocab, hostParams(c, penalty), scratch, ids.data(), lps.data());
    // With a NaN in the row the CPU sampler's log-sum-exp is NaN (so are its logprobs) while the
    // GPU's leaves the NaN out; either is accepted: the CPU sampler's, or its answer on the row
    // with the NaN as -inf. (The NaN is placed past the first n ids because std::partial_sort
    // there would keep it among the first n.)
    std::vector<float> lpsNoNan = lps;
    if (specs[size_t(r)].shape == kNan) {
      std::vector<float> clean = row;
      for (float& v : clean)
        if (std::isnan(v)) v = -INFINITY;
      std::vector<int32_t> idsNoNan(size_t(maxN), -1);
      sampleRow(clean.data(), vocab, hostParams(c, penalty), scratch, idsNoNan.data(), lpsNoNan.data());
      h.expect(set + " row " + std::to_string(r) + " reference", idsNoNan == ids);
    }
    const std::string name = set + " row " + std::to_string(r) + " (kind " + std::to_string(specs[size_t(r)].kind) +
                             ", n " + std::to_string(c.numLogprobs) + ")";
    h.expect(name + " token", out.tokens[size_t(r)] == want.token,
             "got " + std::to_string(out.tokens[size_t(r)]) + ", CPU sampler " + std::to_string(want.token));
    int badIds = 0, badLps = 0, badPad = 0;
    std::string first;
    for (int i = 0; i < maxN; i++) {
      const int32_t gotId = out.topIds[size_t(r) * maxN + i];
      const float got = out.topLogprobs[size_t(r) * maxN + i];
      if (i >= n) {
        if (gotId != -1 || got != -INFINITY) badPad++;
        continue;
      }
      const bool near = std::fabs(got - lps[size_t(i)]) < 1e-4 || (std::isnan(got) && std::isnan(lps[size_t(i)])) ||
                        std::fabs(got - lpsNoNan[size_t(i)]) < 1e-4;
      if (gotId != ids[size_t(i)] || !near) {
        badIds += gotId != ids[size_t(i)];
        badLps += !near;
        if (first.empty())
          first = "first at " + std::to_string(i) + ": id " + std::to_string(gotId) + " vs " + std::to_string(ids[size_t(i)]) +
                  ", logprob " + std::to_string(got) + " vs " + std::to_string(lps[size_t(i)]);
      }
    }
    h.expect(name + " top ids", badIds == 0, std::to_string(badIds) + " differ; " + first);
    h.expect(name + " top logprobs", badLps == 0, std::to_string(badLps) + " differ; " + first);
    h.expect(name + " padding", badPad == 0, std::to_string(badPad) + " entries past n not -1 / -inf");
  }
}

Register topLogprobsMatchCpu("sampling: top-n logprobs of every kind of row equal the CPU sampler's", [](Harness& h) {
  checkTopLogprobs(h, 128000, "vocab 128000");
  checkTopLogprobs(h, 50001, "vocab 50001");
});

}  // namespace
}  // namespace pagedinfer::test
