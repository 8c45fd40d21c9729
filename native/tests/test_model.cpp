// The whole forward through Model::step on a small dummy model: the backend under test against the
// CPU backend (same seeded weights), over a prefill, decode steps of two batch sizes and a mixed
// step; and, for backends that record decode graphs, replayed graphs against the eager forward.
#include <algorithm>
#include <cmath>

#include "core/model.h"
#include "cpu/cpu_backend.h"
#include "harness.h"
#include "model_fixture.h"

namespace pagedinfer::test {
namespace {

std::vector<float> runStep(Model& m, TestStep& st) {
  StepView v = st.finish();
  v.returnLogits = true;
  StepOutput out;
  m.step(v, out);
  return out.logits;
}

double relError(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); i++) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += double(a[i] - b[i]) * (a[i] - b[i]);
    den += double(b[i]) * b[i];
  }
  return a.size() == b.size() ? std::sqrt(num / (den > 0 ? den : 1)) : INFINITY;
}

// Drives models through the same steps; tokens come from the first model's greedy picks.
struct Script {
  std::vector<Seq> seqs;
  template <typename F>
  void run(Harness& h, F&& check) {
    std::vector<std::vector<int>> prompts;
    for (int len : {20, 7, 33}) {
      std::vector<int> p;
      for (int i = 0; i < len; i++) p.push_back(h.randint(0, 511));
      prompts.push_back(p);
    }
    seqs = {{0}, {1}, {2}};
    std::vector<int> next = check("prefill", seqs, prompts);
    for (size_t i = 0; i < seqs.size(); i++) seqs[i].len += int(prompts[i].size());
    for (int step = 0; step < 5; step++) {  // batch 3 (graph bucket 4): eager, recorded, replayed x3
      std::vector<std::vector<int>> toks;
      for (int t : next) toks.push_back({t});
      next = check("decode " + std::to_string(step), seqs, toks);
      for (Seq& s : seqs) s.len++;
    }
    std::vector<Seq> two = {seqs[0], seqs[2]};  // batch 2: another bucket
    std::vector<int> nextTwo = {next[0], next[2]};
    for (int step = 0; step < 3; step++) {
      std::vector<std::vector<int>> toks = {{nextTwo[0]}, {nextTwo[1]}};
      nextTwo = check("decode/2 " + std::to_string(step), two, toks);
      for (Seq& s : two) s.len++;
    }
    std::vector<Seq> one = {two[1]};  // batch 1: the decode GEMVs (fused projections), eager, recorded, replayed
    int nextOne = nextTwo[1];
    for (int step = 0; step < 3; step++) {
      nextOne = check("decode/1 " + std::to_string(step), one, {{nextOne}})[0];
      one[0].len++;
    }
    std::vector<Seq> mixed = {two[0], {3}};  // a decode and a fresh prefill in one step
    check("mixed", mixed, {{nextTwo[0]}, {1, 2, 3, 4, 5, 6, 7, 8, 9}});
  }
};

std::vector<int> argmaxRows(const std::vector<float>& logits, int vocab) {
  std::vector<int> ids;
  for (size_t r = 0; r * vocab < logits.size(); r++)
    ids.push_back(int(std::max_element(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab) - logits.begin() -
                      r * vocab));
  return ids;
}

Register modelVsCpu("model: forward matches the CPU backend (prefill, decode, mixed)", [](Harness& h) {
  const ModelConfig c = tinyConfig();
  Model dev(c, makeBackend(h.backendName()));
  Model cpu(c, std::make_unique<CpuBackend>(0));
  for (Model* m : {&dev, &cpu}) {
    m->loadDummy(DType::BF16, 1234, {});
    m->initKvCache(4 + 4 * kBlocksPerSeq, kBlockSize);
    m->warmup(64, 8, true);  // must leave the KV cache and later steps as they would be without it
  }
  Script script;
  script.run(h, [&](const std::string& name, const std::vector<Seq>& seqs, const std::vector<std::vector<int>>& toks) {
    TestStep a = makeStep(seqs, toks), b = makeStep(seqs, toks);
    std::vector<float> got = runStep(dev, a), want = runStep(cpu, b);
    h.expect(name + ": logits", relError(got, want) < 3e-2, "relative error " + std::to_string(relError(got, want)));
    return argmaxRows(want, c.vocabSize);
  });
});

Register modelGraphs("model: recorded decode graphs replay the eager forward", [](Harness& h) {
  const ModelConfig c = tinyConfig();
  Model graphs(c, makeBackend(h.backendName(), true));
  Model eager(c, makeBackend(h.backendName(), false));
  for (Model* m : {&graphs, &eager}) {
    m->loadDummy(DType::BF16, 99, {});
    m->initKvCache(4 + 4 * kBlocksPerSeq, kBlockSize);
  }
  Script script;
  script.run(h, [&](const std::string& name, const std::vector<Seq>& seqs, const std::vector<std::vector<int>>& toks) {
    TestStep a = makeStep(seqs, toks), b = makeStep(seqs, toks);
    std::vector<float> got = runStep(graphs, a), want = runStep(eager, b);
    h.expect(name + ": logits", relError(got, want) < 1e-6, "relative error " + std::to_string(relError(got, want)));
    return argmaxRows(want, c.vocabSize);
  });
});

}  // namespace
}  // namespace pagedinfer::test
