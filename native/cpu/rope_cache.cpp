// Rotary position embedding of q and k, fused with writing k and v into the paged cache, and the
// block copies of copy-on-write.
#include <cmath>
#include <vector>
#include <cstring>

#include "cpu_backend.h"

namespace pagedinfer {

namespace {

void rotateHeads(float* x, int numHeads, int headDim, const float* cosv, const float* sinv, int half, bool neox) {
  for (int h = 0; h < numHeads; h++) {
    float* head = x + h * headDim;
    for (int j = 0; j < half; j++) {
      // neox pairs (j, j + half) -- the Hugging Face layout; normal pairs (2j, 2j + 1) -- llama.cpp's llama.
      int i0 = neox ? j : 2 * j;
      int i1 = neox ? j + half : 2 * j + 1;
      float x0 = head[i0], x1 = head[i1];
      head[i0] = x0 * cosv[j] - x1 * sinv[j];
      head[i1] = x1 * cosv[j] + x0 * sinv[j];
    }
  }
}

}  // namespace

void CpuBackend::ropeAndCacheWrite(Tensor q, Tensor k, Tensor v, const StepView& s, int layer, const RopeShape& rope) {
  const int half = rope.rotaryDim / 2;
  const int kvDim = rope.numKvHeads * rope.headDim;
  float* kc = kCache(layer);
  float* vc = vCache(layer);
  pool().parallelFor(s.numTokens, 4, [&](int64_t t0, int64_t t1) {
    std::vector<float> cosv(static_cast<size_t>(half)), sinv(static_cast<size_t>(half));
    for (int64_t t = t0; t < t1; t++) {
      double pos = s.positions[t];
      for (int j = 0; j < half; j++) {
        double angle = pos * double(rope.invFreq[j]);
        cosv[j] = float(std::cos(angle));
        sinv[j] = float(std::sin(angle));
      }
      rotateHeads(q.f32() + t * q.cols, rope.numHeads, rope.headDim, cosv.data(), sinv.data(), half, rope.neox);
      float* kt = k.f32() + t * k.cols;
      rotateHeads(kt, rope.numKvHeads, rope.headDim, cosv.data(), sinv.data(), half, rope.neox);
      int32_t slot = s.slotMapping[t];
      if (slot < 0) continue;
      std::memcpy(kc + int64_t(slot) * kvDim, kt, size_t(kvDim) * sizeof(float));
      std::memcpy(vc + int64_t(slot) * kvDim, v.f32() + t * v.cols, size_t(kvDim) * sizeof(float));
    }
  });
}

void CpuBackend::copyBlocks(const StepView& s) {
  const KvCacheShape& kv = kvShape();
  const size_t blockFloats = size_t(kv.blockSize) * kv.numKvHeads * kv.headDim;
  for (int i = 0; i < s.numBlockCopies; i++) {
    int64_t src = s.blockCopies[2 * i], dst = s.blockCopies[2 * i + 1];
    for (int l = 0; l < kv.numLayers; l++) {
      std::memcpy(kCache(l) + dst * blockFloats, kCache(l) + src * blockFloats, blockFloats * sizeof(float));
      std::memcpy(vCache(l) + dst * blockFloats, vCache(l) + src * blockFloats, blockFloats * sizeof(float));
    }
  }
}

}  // namespace pagedinfer
