// A small dummy model and steps over it, shared by the model-level tests: sequence s owns the
// physical blocks [4 + 8s, 4 + 8s + 8), so physical ids are not the logical ones.
#pragma once
#include <cmath>
#include <vector>

#include "core/model.h"
#include "harness.h"

namespace pagedinfer::test {

inline ModelConfig tinyConfig() {
  ModelConfig c;
  c.hiddenSize = 256;
  c.intermediateSize = 512;
  c.numLayers = 2;
  c.numHeads = 8;
  c.numKvHeads = 2;
  c.headDim = 64;
  c.vocabSize = 512;
  c.maxContext = 256;
  c.rmsNormEps = 1e-5f;
  c.rotaryDim = 64;
  c.ropeNeox = true;
  for (int i = 0; i < c.rotaryDim / 2; i++) c.ropeInvFreq.push_back(float(1.0 / std::pow(10000.0, 2.0 * i / c.rotaryDim)));
  return c;
}

constexpr int kBlockSize = 16, kBlocksPerSeq = 8;

struct Seq {
  int id, len = 0;
};

inline TestStep makeStep(const std::vector<Seq>& seqs, const std::vector<std::vector<int>>& newTokens) {
  TestStep st;
  st.maxBlocksPerSeq = kBlocksPerSeq;
  st.queryStart.push_back(0);
  for (size_t i = 0; i < seqs.size(); i++) {
    const Seq& s = seqs[i];
    for (size_t j = 0; j < newTokens[i].size(); j++) {
      const int pos = s.len + int(j);
      st.tokenIds.push_back(newTokens[i][j]);
      st.positions.push_back(pos);
      st.slotMapping.push_back((4 + kBlocksPerSeq * s.id + pos / kBlockSize) * kBlockSize + pos % kBlockSize);
    }
    st.queryStart.push_back(int32_t(st.tokenIds.size()));
    st.seqLens.push_back(s.len + int(newTokens[i].size()));
    for (int b = 0; b < kBlocksPerSeq; b++) st.blockTable.push_back(4 + kBlocksPerSeq * s.id + b);
    st.logitRows.push_back(int32_t(st.tokenIds.size()) - 1);
  }
  return st;
}

}  // namespace pagedinfer::test
