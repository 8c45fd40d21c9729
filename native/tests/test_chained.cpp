// Async scheduling at the model (Model::enqueueStep / finishStep, StepView::chainedTokens): steps
// whose tokens are chained to the previous step's samples, each enqueued before the previous one
// finished, give exactly the tokens of steps run one by one with the real ids; a bad chain is an
// InvalidArgumentError and the model keeps working. With CUDA: the two kernels that carry the
// sampled ids from one step to the next, against plain loops.
#include <list>
#include <memory>

#include "core/errors.h"
#include "harness.h"
#include "model_fixture.h"

#ifdef PAGEDINFER_WITH_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/kernels.h"
#include "cuda/sampling.h"
#endif

namespace pagedinfer::test {
namespace {

// One step with greedy sampling on every logit row; the view must outlive finishStep.
struct GreedyStep {
  TestStep st;
  std::vector<int32_t> chain;
  StepView view;
  StepOutput out;

  GreedyStep(const std::vector<Seq>& seqs, const std::vector<std::vector<int>>& toks) : st(makeStep(seqs, toks)) {
    st.penaltyOffsets.push_back(0);
    for (size_t r = 0; r < st.logitRows.size(); r++) {
      st.temperature.push_back(0);
      st.topK.push_back(0);
      st.topP.push_back(1);
      st.minP.push_back(0);
      st.repetitionPenalty.push_back(1);
      st.presencePenalty.push_back(0);
      st.frequencyPenalty.push_back(0);
      st.seeds.insert(st.seeds.end(), {1, 0});
      st.outputIndex.push_back(0);
      st.numLogprobs.push_back(0);
      st.penaltyOffsets.push_back(0);
      st.penaltyPromptLens.push_back(0);
    }
    view = st.finish(true);
  }
  void chainTo(std::vector<int32_t> pairs) {
    chain = std::move(pairs);
    view.numChainedTokens = int(chain.size() / 2);
    view.chainedTokens = chain.data();
  }
};

std::unique_ptr<Model> tinyModel(Harness& h) {
  auto m = std::make_unique<Model>(tinyConfig(), makeBackend(h.backendName()));
  m->loadDummy(DType::BF16, 4321, {});
  m->initKvCache(4 + 4 * kBlocksPerSeq, kBlockSize);
  // Sized up front: a workspace that grows waits for the pending step's finishStep, which this
  // single-threaded test would only call afterwards.
  m->reserveWorkspace(128, 8);
  return m;
}

std::vector<std::vector<int>> prompts(Harness& h) {
  std::vector<std::vector<int>> p;
  for (int len : {20, 7, 33}) {
    p.emplace_back();
    for (int i = 0; i < len; i++) p.back().push_back(h.randint(0, 511));
  }
  return p;
}

// The sampled tokens and logprobs of a prefill and `decodes` decode steps of three sequences.
struct Trace {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<float>> logprobs;
  void add(const StepOutput& out) {
    tokens.push_back(out.tokens);
    logprobs.push_back(out.logprobs);
  }
};

Trace runOneByOne(Model& m, const std::vector<std::vector<int>>& p, int decodes) {
  std::vector<Seq> seqs = {{0}, {1}, {2}};
  Trace trace;
  GreedyStep prefill(seqs, p);
  m.step(prefill.view, prefill.out);
  trace.add(prefill.out);
  for (size_t i = 0; i < seqs.size(); i++) seqs[i].len += int(p[i].size());
  std::vector<int32_t> next = prefill.out.tokens;
  for (int d = 0; d < decodes; d++) {
    GreedyStep step(seqs, {{next[0]}, {next[1]}, {next[2]}});
    m.step(step.view, step.out);
    trace.add(step.out);
    next = step.out.tokens;
    for (Seq& s : seqs) s.len++;
  }
  return trace;
}

// Each decode step is enqueued with placeholder tokens chained to the previous step's rows
// before that step finishes: two steps in flight, as the engine runs them.
Trace runChained(Model& m, const std::vector<std::vector<int>>& p, int decodes) {
  std::vector<Seq> seqs = {{0}, {1}, {2}};
  Trace trace;
  std::list<GreedyStep> steps;
  steps.emplace_back(seqs, p);
  m.enqueueStep(steps.back().view, steps.back().out);
  for (size_t i = 0; i < seqs.size(); i++) seqs[i].len += int(p[i].size());
  for (int d = 0; d < decodes; d++) {
    steps.emplace_back(seqs, std::vector<std::vector<int>>{{0}, {0}, {0}});
    steps.back().chainTo({0, 0, 1, 1, 2, 2});
    m.enqueueStep(steps.back().view, steps.back().out);
    GreedyStep& done = steps.front();
    m.finishStep(done.view, done.out);
    trace.add(done.out);
    steps.pop_front();
    for (Seq& s : seqs) s.len++;
  }
  m.finishStep(steps.front().view, steps.front().out);
  trace.add(steps.front().out);
  return trace;
}

Register chainedTokens("model: chained tokens, two steps in flight, equal the real ids one by one", [](Harness& h) {
  const std::vector<std::vector<int>> p = prompts(h);
  const int decodes = 6;  // on CUDA: both logits buffers, eager, recorded and replayed graphs
  std::unique_ptr<Model> plain = tinyModel(h), chained = tinyModel(h);
  const Trace want = runOneByOne(*plain, p, decodes), got = runChained(*chained, p, decodes);
  h.expect("steps", got.tokens.size() == want.tokens.size());
  for (size_t s = 0; s < want.tokens.size() && s < got.tokens.size(); s++) {
    h.expect("step " + std::to_string(s) + " tokens", got.tokens[s] == want.tokens[s]);
    bool close = got.logprobs[s].size() == want.logprobs[s].size();
    for (size_t r = 0; close && r < want.logprobs[s].size(); r++) close = std::fabs(got.logprobs[s][r] - want.logprobs[s][r]) < 1e-5;
    h.expect("step " + std::to_string(s) + " logprobs", close);
  }
});

Register badChains("model: a bad chain is refused and the model keeps working", [](Harness& h) {
  const std::vector<std::vector<int>> p = prompts(h);
  std::unique_ptr<Model> m = tinyModel(h);
  std::vector<Seq> seqs = {{0}, {1}, {2}};
  auto refused = [&](const std::string& what, const std::vector<int32_t>& pairs) {
    GreedyStep step(seqs, p);
    step.chainTo(pairs);
    bool threw = false;
    try {
      m->enqueueStep(step.view, step.out);
      m->finishStep(step.view, step.out);
    } catch (const InvalidArgumentError&) {
      threw = true;
    }
    h.expect(what, threw, "no InvalidArgumentError");
  };
  refused("nothing sampled before", {0, 0});
  GreedyStep first(seqs, p);
  m->step(first.view, first.out);
  refused("row beyond the previous step's", {0, 3});
  refused("after a refused step, no row of an older step", {0, 0});
  m->step(first.view, first.out);
  refused("token index outside the step", {60, 0});
  GreedyStep again(seqs, p);
  m->step(again.view, again.out);
  h.expect("still works", again.out.tokens == first.out.tokens);
});

#ifdef PAGEDINFER_WITH_CUDA
// keepSampledTokens / gatherChainedTokens against plain loops, outputs poisoned first.
Register cudaChainKernels("cuda kernels: keep sampled ids, gather chained tokens (CUDA backend only)", [](Harness& h) {
  if (h.backendName() != "cuda") return;  // CUDA kernels; the model tests above cover every backend
  auto& b = static_cast<CudaBackend&>(h.backend());
  const int rows = h.randint(1, 300), numTokens = h.randint(rows, 600);
  std::vector<cuda::SampleRowResult> results(static_cast<size_t>(rows));
  std::vector<int32_t> wantIds(static_cast<size_t>(rows));
  for (int r = 0; r < rows; r++) {
    results[size_t(r)] = cuda::SampleRowResult{h.randint(0, 150000), -1.0f, h.randint(0, 9) == 0 ? 1 : 0, 0, 0, 0, {0, 0}};
    wantIds[size_t(r)] = results[size_t(r)].status == 0 ? results[size_t(r)].token : -1;
  }
  // Distinct token indices (as the engine's placeholders are), rows in any order.
  std::vector<int32_t> tokens(static_cast<size_t>(numTokens)), pairs, wantTokens;
  for (int32_t& t : tokens) t = h.randint(0, 150000);
  wantTokens = tokens;
  for (int t = 0; t < numTokens; t++) {
    if (h.randint(0, 2) != 0) continue;
    const int row = h.randint(0, rows - 1);
    pairs.insert(pairs.end(), {t, row});
    wantTokens[size_t(t)] = std::max(wantIds[size_t(row)], 0);
  }
  const int numPairs = int(pairs.size() / 2);
  void* dResults = b.alloc(results.size() * sizeof(cuda::SampleRowResult));
  void* dIds = b.alloc(size_t(rows) * 4);
  void* dTokens = b.alloc(tokens.size() * 4);
  void* dPairs = b.alloc(std::max<size_t>(pairs.size(), 1) * 4);
  b.upload(dResults, results.data(), results.size() * sizeof(cuda::SampleRowResult));
  const std::vector<int32_t> poison(static_cast<size_t>(rows), 0x7f7f7f7f);
  b.upload(dIds, poison.data(), poison.size() * 4);
  b.upload(dTokens, tokens.data(), tokens.size() * 4);
  if (numPairs > 0) b.upload(dPairs, pairs.data(), pairs.size() * 4);
  cuda::launchKeepSampledTokens(static_cast<cuda::SampleRowResult*>(dResults), rows, static_cast<int32_t*>(dIds), b.stream());
  cuda::launchGatherChainedTokens(static_cast<int32_t*>(dTokens), static_cast<int32_t*>(dPairs), numPairs,
                                  static_cast<int32_t*>(dIds), b.stream());
  std::vector<int32_t> ids(static_cast<size_t>(rows)), got(tokens.size());
  b.download(ids.data(), dIds, ids.size() * 4);
  b.download(got.data(), dTokens, got.size() * 4);
  for (void* p : {dResults, dIds, dTokens, dPairs}) b.release(p);
  h.expect("kept ids", ids == wantIds, std::to_string(rows) + " rows");
  h.expect("gathered tokens", got == wantTokens, std::to_string(numPairs) + " pairs over " + std::to_string(numTokens) + " tokens");
});
#endif

}  // namespace
}  // namespace pagedinfer::test
