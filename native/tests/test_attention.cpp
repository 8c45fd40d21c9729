// Rope fused with the KV-cache write, paged attention over random block tables, block copies.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "harness.h"
#ifdef PAGEDINFER_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace pagedinfer::test {
namespace {

std::vector<float> invFreqTable(int rotaryDim, double theta) {
  std::vector<float> f(size_t(rotaryDim / 2));
  for (int i = 0; i < rotaryDim / 2; i++) f[i] = float(1.0 / std::pow(theta, 2.0 * i / rotaryDim));
  return f;
}

// Writes values[t] (K and V rows of kvHeads * headDim) into `slots` of `layer` through the
// backend's own cache write with an identity rotation (all frequencies zero).
void fillCache(Harness& h, int layer, const std::vector<int32_t>& slots, const Vec& k, const Vec& v, int heads,
               int kvHeads, int headDim) {
  const int T = int(slots.size());
  if (T == 0) return;
  TestStep step;
  for (int t = 0; t < T; t++) {
    step.tokenIds.push_back(0);
    step.positions.push_back(t);
  }
  step.slotMapping = slots;
  step.queryStart = {0, T};
  step.seqLens = {T};
  const StepView& s = h.backend().beginStep(step.finish());
  std::vector<float> zeros(size_t(headDim / 2), 0.0f);
  RopeShape rope{zeros.data(), headDim, true, heads, kvHeads, headDim};
  Tensor q = h.tensor(T, heads * headDim, Vec(size_t(T * heads * headDim), 0.0));
  h.backend().ropeAndCacheWrite(q, h.tensor(T, kvHeads * headDim, k), h.tensor(T, kvHeads * headDim, v), s, layer, rope);
}

// Rotary widths: the whole head, half of it, and one the CUDA backend's 16-byte path does not take.
Register ropeCacheWrite("rope + cache write", [](Harness& h) {
  for (const int rotaryDim : {64, 32, 24})
  for (bool neox : {true, false}) {
    const int T = 6, heads = 4, kvHeads = 2, headDim = 64, blockSize = 16, numBlocks = 8;
    h.backend().allocKvCache(KvCacheShape{2, numBlocks, blockSize, kvHeads, headDim});
    TestStep step;
    std::vector<int32_t> slots(size_t(numBlocks * blockSize));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), h.rng());
    for (int t = 0; t < T; t++) {
      step.tokenIds.push_back(0);
      step.positions.push_back(h.randint(0, 5000));
      step.slotMapping.push_back(t == 3 ? -1 : slots[t]);  // token 3 writes nothing
    }
    int maxPos = *std::max_element(step.positions.begin(), step.positions.end());
    step.queryStart = {0, T};
    step.seqLens = {maxPos + 1};
    const StepView& s = h.backend().beginStep(step.finish());
    std::vector<float> inv = invFreqTable(rotaryDim, 10000.0);
    RopeShape rope{inv.data(), rotaryDim, neox, heads, kvHeads, headDim};
    Vec q = h.roundTrip(h.randomVec(size_t(T * heads * headDim))), k = h.roundTrip(h.randomVec(size_t(T * kvHeads * headDim)));
    Vec v = h.roundTrip(h.randomVec(size_t(T * kvHeads * headDim)));
    Tensor qt = h.tensor(T, heads * headDim, q), kt = h.tensor(T, kvHeads * headDim, k);
    h.backend().ropeAndCacheWrite(qt, kt, h.tensor(T, kvHeads * headDim, v), s, 1, rope);
    std::string layout = std::string(neox ? "neox" : "normal") + " rotary " + std::to_string(rotaryDim);
    Vec kRef = ref::rope(k, step.positions, inv, kvHeads, headDim, neox);
    h.expectClose("q " + layout, h.fetch(qt), ref::rope(q, step.positions, inv, heads, headDim, neox), h.tolerance());
    h.expectClose("k " + layout, h.fetch(kt), kRef, h.tolerance());
    Vec cachedK, cachedV, wantK, wantV;
    std::vector<float> kRow(size_t(kvHeads * headDim)), vRow(kRow.size());
    for (int t = 0; t < T; t++) {
      if (step.slotMapping[t] < 0) continue;
      h.backend().readKvSlot(1, step.slotMapping[t], kRow.data(), vRow.data());
      for (size_t i = 0; i < kRow.size(); i++) {
        cachedK.push_back(kRow[i]);
        cachedV.push_back(vRow[i]);
        wantK.push_back(kRef[t * kRow.size() + i]);
        wantV.push_back(v[t * kRow.size() + i]);
      }
    }
    h.expectClose("cached k " + layout, cachedK, wantK, h.tolerance());
    h.expectClose("cached v " + layout, cachedV, wantV, h.tolerance());
  }
});

struct AttentionConfig {
  int blockSize, heads, kvHeads, headDim;
};

Register pagedAttention("paged attention (mixed prefill chunks and decode, random block tables)", [](Harness& h) {
  const AttentionConfig configs[] = {{1, 4, 4, 64}, {16, 8, 2, 64}, {32, 4, 1, 128}, {16, 32, 8, 128}, {16, 4, 2, 80}};
  for (const AttentionConfig& c : configs) {
    // (context after the step, new tokens): a prefill chunk over a cached prefix, decodes, a fresh
    // prefill, a context that ends on a block boundary, and one that shares sequence 0's prefix.
    struct Seq { int ctx, fresh; };
    // A long decode context last: the CUDA run below splits it into partitions.
    // A 90-token chunk over a 50-token prefix spans several prefill tiles.
    const std::vector<Seq> seqs = {{33, 13}, {46, 1}, {7, 7}, {32, 1}, {37, 2}, {2 * c.blockSize + 1, 1}, {140, 90}, {300, 1}};
    const int sharedFrom = 4, sharedBlocks = 20 / c.blockSize;  // seq 4 reuses seq 0's full prefix blocks
    const int S = int(seqs.size());
    int maxBlocks = 0, totalBlocks = 0;
    for (const Seq& s : seqs) {
      int blocks = (s.ctx + c.blockSize - 1) / c.blockSize;
      maxBlocks = std::max(maxBlocks, blocks);
      totalBlocks += blocks;
    }
    const int numBlocks = totalBlocks + 5;
    const int layer = 1;
    h.backend().allocKvCache(KvCacheShape{2, numBlocks, c.blockSize, c.kvHeads, c.headDim});
    std::vector<int32_t> physical(static_cast<size_t>(numBlocks));
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), h.rng());
    size_t nextBlock = 0;

    const int kvDim = c.kvHeads * c.headDim, qDim = c.heads * c.headDim;
    TestStep step;
    step.maxBlocksPerSeq = maxBlocks + 1;  // one spare column: the table is padded with -1
    step.blockTable.assign(size_t(S * step.maxBlocksPerSeq), -1);
    std::vector<Vec> keys(static_cast<size_t>(S)), values(static_cast<size_t>(S));
    std::vector<int32_t> fillSlots;
    Vec fillK, fillV;
    step.queryStart.push_back(0);
    for (int s = 0; s < S; s++) {
      const Seq& q = seqs[s];
      int blocks = (q.ctx + c.blockSize - 1) / c.blockSize;
      for (int b = 0; b < blocks; b++) {
        bool shared = s == sharedFrom && b < sharedBlocks;
        step.blockTable[s * step.maxBlocksPerSeq + b] = shared ? step.blockTable[b] : physical[nextBlock++];
      }
      keys[s] = h.randomVec(size_t(q.ctx * kvDim));
      values[s] = h.randomVec(size_t(q.ctx * kvDim));
      for (int t = 0; t < q.ctx; t++) {
        bool shared = s == sharedFrom && t < sharedBlocks * c.blockSize;
        if (shared) {  // the same cached tokens as sequence 0
          std::copy_n(keys[0].begin() + t * kvDim, kvDim, keys[s].begin() + t * kvDim);
          std::copy_n(values[0].begin() + t * kvDim, kvDim, values[s].begin() + t * kvDim);
          continue;
        }
        fillSlots.push_back(step.blockTable[s * step.maxBlocksPerSeq + t / c.blockSize] * c.blockSize + t % c.blockSize);
        fillK.insert(fillK.end(), keys[s].begin() + t * kvDim, keys[s].begin() + (t + 1) * kvDim);
        fillV.insert(fillV.end(), values[s].begin() + t * kvDim, values[s].begin() + (t + 1) * kvDim);
      }
      for (int t = q.ctx - q.fresh; t < q.ctx; t++) {
        step.tokenIds.push_back(0);
        step.positions.push_back(t);
        step.slotMapping.push_back(-1);
      }
      step.queryStart.push_back(int32_t(step.tokenIds.size()));
      step.seqLens.push_back(q.ctx);
    }
    fillCache(h, layer, fillSlots, fillK, fillV, c.heads, c.kvHeads, c.headDim);
    for (Vec* v : {&fillK, &fillV}) *v = h.roundTrip(*v);  // what the cache holds

    const int T = int(step.tokenIds.size());
    Vec q = h.roundTrip(h.randomVec(size_t(T * qDim)));
    const StepView& view = h.backend().beginStep(step.finish());
    float scale = 1.0f / std::sqrt(float(c.headDim));
    Vec ref;
    for (int s = 0; s < S; s++) {
      int t0 = step.queryStart[s], t1 = step.queryStart[s + 1];
      Vec qs(q.begin() + t0 * qDim, q.begin() + t1 * qDim);
      std::vector<int32_t> pos(step.positions.begin() + t0, step.positions.begin() + t1);
      Vec part = ref::attention(qs, pos, h.roundTrip(keys[s]), h.roundTrip(values[s]), c.heads, c.kvHeads, c.headDim, scale);
      ref.insert(ref.end(), part.begin(), part.end());
    }
    const std::string shape = "blockSize " + std::to_string(c.blockSize) + " heads " + std::to_string(c.heads) + "/" +
                              std::to_string(c.kvHeads) + " headDim " + std::to_string(c.headDim);
    auto check = [&](const std::string& label) {
      Tensor out = h.poisoned(T, qDim);
      h.backend().pagedAttention(out, h.tensor(T, qDim, q), view, layer, AttentionShape{c.heads, c.kvHeads, c.headDim, scale});
      h.expectClose(shape + label, h.fetch(out), ref, h.tolerance());
    };
    check("");
#ifdef PAGEDINFER_WITH_CUDA
    if (h.backendName() == "cuda") {  // both decode variants the backend picks from, whole and split contexts
      auto& cuda = static_cast<CudaBackend&>(h.backend());
      for (const int variant : {0, 4}) {
        const std::string v = ", variant " + std::to_string(variant);
        cuda.setDecodeVariant(variant);
        check(v);
        cuda.setDecodePartition(64);  // split into 64-key partitions, combined by the last one
        check(v + ", partitions of 64 keys");
        check(v + ", partitions of 64 keys again (arrival counters back at zero)");
        cuda.setDecodePartition(0);
      }
      cuda.setDecodeVariant(-1);
    }
#endif
  }
});

// ropeAttention: new tokens' q and k rotated, k and v cached, attention over the cached context
// plus the new keys. The CUDA backend rotates and caches decode tokens inside its decode kernel
// (prefill tokens through the rope kernel); it runs with that fusion on (both decode variants,
// whole and split contexts) and off. Rotary widths: the whole head and half of it.
Register ropeAttention("rope + attention (decode tokens rotated and cached by the CUDA attention kernel)", [](Harness& h) {
  struct Seq { int ctx, fresh; };
  const std::vector<Seq> seqs = {{46, 1}, {300, 1}, {1, 1}, {33, 13}, {17, 1}};
  const int heads = 8, kvHeads = 2, headDim = 128, blockSize = 16, layer = 1;
  const int kvDim = kvHeads * headDim, qDim = heads * headDim, S = int(seqs.size());
  for (const int rotaryDim : {128, 64})
  for (const bool neox : {true, false}) {
    int totalBlocks = 0, maxBlocks = 0;
    for (const Seq& q : seqs) {
      totalBlocks += (q.ctx + blockSize - 1) / blockSize;
      maxBlocks = std::max(maxBlocks, (q.ctx + blockSize - 1) / blockSize);
    }
    h.backend().allocKvCache(KvCacheShape{2, totalBlocks + 3, blockSize, kvHeads, headDim});
    std::vector<int32_t> physical(static_cast<size_t>(totalBlocks + 3));
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), h.rng());
    TestStep step;
    step.maxBlocksPerSeq = maxBlocks;
    step.blockTable.assign(size_t(S * maxBlocks), -1);
    std::vector<Vec> oldK(static_cast<size_t>(S)), oldV(static_cast<size_t>(S));
    std::vector<int32_t> fillSlots;
    Vec fillK, fillV;
    size_t next = 0;
    step.queryStart.push_back(0);
    for (int s = 0; s < S; s++) {
      const Seq& q = seqs[size_t(s)];
      for (int b = 0; b < (q.ctx + blockSize - 1) / blockSize; b++) step.blockTable[size_t(s * maxBlocks + b)] = physical[next++];
      auto slotOf = [&](int pos) { return step.blockTable[size_t(s * maxBlocks + pos / blockSize)] * blockSize + pos % blockSize; };
      const int old = q.ctx - q.fresh;
      oldK[size_t(s)] = h.roundTrip(h.randomVec(size_t(old * kvDim)));
      oldV[size_t(s)] = h.roundTrip(h.randomVec(size_t(old * kvDim)));
      for (int pos = 0; pos < old; pos++) fillSlots.push_back(slotOf(pos));
      fillK.insert(fillK.end(), oldK[size_t(s)].begin(), oldK[size_t(s)].end());
      fillV.insert(fillV.end(), oldV[size_t(s)].begin(), oldV[size_t(s)].end());
      for (int pos = old; pos < q.ctx; pos++) {
        step.tokenIds.push_back(0);
        step.positions.push_back(pos);
        step.slotMapping.push_back(slotOf(pos));
      }
      step.queryStart.push_back(int32_t(step.tokenIds.size()));
      step.seqLens.push_back(q.ctx);
    }
    const int T = int(step.tokenIds.size());
    const Vec q = h.roundTrip(h.randomVec(size_t(T * qDim))), k = h.roundTrip(h.randomVec(size_t(T * kvDim)));
    const Vec v = h.roundTrip(h.randomVec(size_t(T * kvDim)));
    const std::vector<float> inv = invFreqTable(rotaryDim, 500000.0);
    const RopeShape rope{inv.data(), rotaryDim, neox, heads, kvHeads, headDim};
    const AttentionShape att{heads, kvHeads, headDim, 1.0f / std::sqrt(float(headDim))};
    // What the op must produce: rotated rows (rounded to the activation type, as a backend keeps
    // them), attention over old + new keys, and the new keys and values in their slots.
    const Vec qRot = h.roundTrip(ref::rope(q, step.positions, inv, heads, headDim, neox));
    const Vec kRot = h.roundTrip(ref::rope(k, step.positions, inv, kvHeads, headDim, neox));
    Vec want;
    for (int s = 0; s < S; s++) {
      const int t0 = step.queryStart[size_t(s)], t1 = step.queryStart[size_t(s) + 1];
      Vec keys = oldK[size_t(s)], values = oldV[size_t(s)];
      keys.insert(keys.end(), kRot.begin() + t0 * kvDim, kRot.begin() + t1 * kvDim);
      values.insert(values.end(), v.begin() + t0 * kvDim, v.begin() + t1 * kvDim);
      const std::vector<int32_t> pos(step.positions.begin() + t0, step.positions.begin() + t1);
      const Vec part = ref::attention(Vec(qRot.begin() + t0 * qDim, qRot.begin() + t1 * qDim), pos, keys, values, heads,
                                      kvHeads, headDim, att.scale);
      want.insert(want.end(), part.begin(), part.end());
    }
    const std::string shape = std::string(neox ? "neox" : "normal") + " rotary " + std::to_string(rotaryDim);
    auto check = [&](const std::string& label) {
      fillCache(h, layer, fillSlots, fillK, fillV, heads, kvHeads, headDim);
      // The new tokens' slots hold other values first: the op must write them.
      fillCache(h, layer, step.slotMapping, h.randomVec(size_t(T * kvDim), 5, 6), h.randomVec(size_t(T * kvDim), 5, 6), heads,
                kvHeads, headDim);
      const StepView& view = h.backend().beginStep(step.finish());
      Tensor out = h.poisoned(T, qDim);
      h.backend().ropeAttention(out, h.tensor(T, qDim, q), h.tensor(T, kvDim, k), h.tensor(T, kvDim, v), view, layer, rope, att);
      h.expectClose(shape + label, h.fetch(out), want, h.tolerance());
      Vec gotK, gotV;
      std::vector<float> kRow(static_cast<size_t>(kvDim)), vRow(static_cast<size_t>(kvDim));
      for (int t = 0; t < T; t++) {
        h.backend().readKvSlot(layer, step.slotMapping[size_t(t)], kRow.data(), vRow.data());
        gotK.insert(gotK.end(), kRow.begin(), kRow.end());
        gotV.insert(gotV.end(), vRow.begin(), vRow.end());
      }
      h.expectClose(shape + label + ": cached k", gotK, kRot, h.tolerance());
      h.expectClose(shape + label + ": cached v", gotV, v, h.tolerance());
    };
    check("");
#ifdef PAGEDINFER_WITH_CUDA
    if (h.backendName() == "cuda") {
      auto& cuda = static_cast<CudaBackend&>(h.backend());
      for (const int variant : {0, 4}) {
        cuda.setDecodeVariant(variant);
        cuda.setDecodePartition(64);
        check(", variant " + std::to_string(variant) + ", partitions of 64 keys");
        cuda.setDecodePartition(0);
      }
      cuda.setDecodeVariant(-1);
      cuda.setDecodeRopeFusion(false);
      check(", rope kernel for every token");
      cuda.setDecodeRopeFusion(true);
    }
#endif
  }
});

Register copyBlocks("block copy", [](Harness& h) {
  const int blockSize = 16, kvHeads = 2, headDim = 64, numBlocks = 6, kvDim = kvHeads * headDim;
  h.backend().allocKvCache(KvCacheShape{3, numBlocks, blockSize, kvHeads, headDim});
  std::vector<int32_t> slots;
  for (int s = 0; s < 2 * blockSize; s++) slots.push_back(s);  // blocks 0 and 1
  Vec k = h.roundTrip(h.randomVec(slots.size() * kvDim)), v = h.roundTrip(h.randomVec(slots.size() * kvDim));
  for (int layer = 0; layer < 3; layer++) fillCache(h, layer, slots, k, v, kvHeads, kvHeads, headDim);
  TestStep step;
  step.queryStart = {0};
  step.blockCopies = {1, 4, 0, 2};
  h.backend().copyBlocks(h.backend().beginStep(step.finish()));
  std::vector<float> kRow(static_cast<size_t>(kvDim)), vRow(static_cast<size_t>(kvDim));
  for (int layer = 0; layer < 3; layer++) {
    Vec gotK, gotV;
    for (int dst : {4, 2})
      for (int o = 0; o < blockSize; o++) {
        h.backend().readKvSlot(layer, dst * blockSize + o, kRow.data(), vRow.data());
        gotK.insert(gotK.end(), kRow.begin(), kRow.end());
        gotV.insert(gotV.end(), vRow.begin(), vRow.end());
      }
    Vec wantK(k.begin() + blockSize * kvDim, k.end()), wantV(v.begin() + blockSize * kvDim, v.end());
    wantK.insert(wantK.end(), k.begin(), k.begin() + blockSize * kvDim);
    wantV.insert(wantV.end(), v.begin(), v.begin() + blockSize * kvDim);
    h.expectClose("k layer " + std::to_string(layer), gotK, wantK, 1e-6);
    h.expectClose("v layer " + std::to_string(layer), gotV, wantV, 1e-6);
  }
});

}  // namespace
}  // namespace pagedinfer::test
