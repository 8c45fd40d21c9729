// The op set every device implements (CPU, CUDA, ...). The transformer forward in model.cpp is
// written once against this interface; a backend owns its memory, its weights' device copies and
// the paged KV cache, and decides the cache's memory layout.
//
// Conventions: activations are Tensors of the backend's activationType() (rows = tokens); weights
// are [out, in]; the KV cache is numBlocks blocks of blockSize token slots per layer, and a token
// at slot s lives in block s / blockSize, offset s % blockSize. Slot -1 means "do not write".
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include "errors.h"
#include "step.h"
#include "tensor.h"

namespace pagedinfer {

struct KvCacheShape {
  int numLayers = 0;
  int numBlocks = 0;
  int blockSize = 16;
  int numKvHeads = 0;
  int headDim = 0;
};

struct AttentionShape {
  int numHeads = 0;
  int numKvHeads = 0;
  int headDim = 0;
  float scale = 1.0f;
};

struct RopeShape {
  const float* invFreq = nullptr;  // rotaryDim / 2 values, in host memory (backends copy what they need)
  int rotaryDim = 0;
  bool neox = true;
  int numHeads = 0;
  int numKvHeads = 0;
  int headDim = 0;
};

// What the device can do at best, measured on it (not datasheet numbers): benchmarks put their
// results beside these.
struct DeviceCeilings {
  double copyBytesPerSecond = 0;    // a large device-to-device copy, bytes read + written
  double matmulFlopsPerSecond = 0;  // a large matrix product in the model's precision
  std::string matmulShape;          // what was measured, e.g. "bf16 8192x8192x8192 cuBLASLt"
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // One line for logs and `pagedinfer info`: threads and SIMD level, or the GPU.
  virtual std::string describe() const = 0;

  // --- memory ---------------------------------------------------------------------------------
  virtual DType activationType() const = 0;
  // Throws OutOfMemoryError.
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  // Bytes the backend could still allocate (device memory left, or a host estimate).
  virtual size_t availableMemory() const = 0;
  // Measures the copy bandwidth and the matmul rate (takes about a second).
  virtual DeviceCeilings measureCeilings() = 0;
  // Host <-> device copies of raw bytes (tests and debugging; the step path avoids them).
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;

  // --- weights --------------------------------------------------------------------------------
  // Makes a weight usable by the ops. `asMatrix` weights feed matmul / embedding and may stay in
  // their storage type; vectors (norms, biases) are converted to float. The source bytes stay
  // valid for the model's lifetime (memory-mapped), so a backend may use them in place.
  virtual Weight loadWeight(const HostTensor& t, bool asMatrix) = 0;
  // A weight of random values (offset + uniform in [-scale, scale]) made on the device from a seed:
  // `loadFormat: 'dummy'` models for benchmarks.
  virtual Weight randomWeight(DType dtype, int64_t rows, int64_t cols, uint64_t seed, float offset, float scale) = 0;
  virtual void releaseWeight(Weight& w) = 0;
  // Projections of one input (q/k/v; gate/up) as one matrix each: when this says yes for the
  // layers' matrix type, the model joins each group's weights (joinWeights) and hands the group's
  // outputs as column views of one buffer (Tensor::stride), and matmulSwiglu a scratch of both
  // products side by side. A backend then runs each group as one GEMM.
  virtual bool fusesProjections(DType matrixType) const { return false; }
  // Makes the n weights (one dtype, one width, each made by this backend) consecutive rows of one
  // allocation, in order; each keeps its rows. Releasing the first releases them all.
  virtual void joinWeights(Weight* const* ws, int n) {}

  // --- KV cache -------------------------------------------------------------------------------
  virtual size_t kvCacheBytesPerBlock(const KvCacheShape& shape) const = 0;
  virtual void allocKvCache(const KvCacheShape& shape) = 0;
  virtual void releaseKvCache() = 0;
  // Reads one slot's K and V (numKvHeads * headDim floats each) of a layer: for tests.
  virtual void readKvSlot(int layer, int64_t slot, float* k, float* v) = 0;

  // --- one step -------------------------------------------------------------------------------
  // Makes the step's index arrays available to the device; returns the view the ops read.
  // A backend that records graphs may pad a decode-only step to a bucket size here: the view's
  // numTokens, numSeqs and numLogitRows then exceed the host's (padding tokens write no cache slot,
  // padding sequences have length 0, padding logit rows come last) and view.graphKey names the
  // bucket. The model sizes its workspace from the returned view.
  virtual const StepView& beginStep(const StepView& host) = 0;
  // Copy-on-write: copies every layer's K and V of each (src, dst) block pair.
  virtual void copyBlocks(const StepView& s) = 0;
  // out[t] = table[tokenIds[t]]
  virtual void embedding(Tensor out, const StepView& s, const Weight& table) = 0;
  // out = rmsnorm(x) * w
  virtual void rmsnorm(Tensor out, Tensor x, const Weight& w, float eps) = 0;
  // residual += x; out = rmsnorm(residual) * w
  virtual void addRmsnorm(Tensor out, Tensor residual, Tensor x, const Weight& w, float eps) = 0;
  // In place, per head of headDim values: x = rmsnorm(x) * w (qwen3's q/k norm).
  virtual void headRmsnorm(Tensor x, int numHeads, int headDim, const Weight& w, float eps) = 0;
  // out = x @ w^T (+ bias)
  virtual void matmul(Tensor out, Tensor x, const Weight& w, const Weight* bias) = 0;
  // outs[i] = x @ ws[i]^T (+ biases[i], which may be null) for n projections of one input (q, k,
  // v): a backend may run them as one kernel. The default is n matmuls.
  virtual void matmulMany(int n, const Tensor* outs, Tensor x, const Weight* const* ws, const Weight* const* biases) {
    for (int i = 0; i < n; i++) matmul(outs[i], x, *ws[i], biases[i]);
  }
  // out = silu(x @ gate^T) * (x @ up^T), the MLP's first half. `upScratch` (out's shape) holds
  // x @ up^T where the backend computes the products apart, as the default does; with fused
  // projections it has twice out's columns, room for both products.
  virtual void matmulSwiglu(Tensor out, Tensor x, const Weight& gate, const Weight& up, Tensor upScratch) {
    matmul(out, x, gate, nullptr);
    matmul(upScratch, x, up, nullptr);
    swiglu(out, out, upScratch);
  }
  // Decode-sized steps may fold each layer's residual add and RMSNorm into the projections around
  // it, when fusesNorms(T, the layers' matrix type, the projections' input widths) says so: then the model calls
  // rmsnormMatmulMany for q/k/v, matmulIntoResidual for o and down (but the last layer's down),
  // rmsnormMatmulSwiglu for gate/up, instead of addRmsnorm and the plain projections. A backend
  // that says yes implements the three; the defaults are never called.
  struct ProjectionWidths {
    int64_t hidden = 0;     // q/k/v and gate/up read this many values (and o, down write them)
    int64_t attention = 0;  // o reads the heads' outputs
    int64_t ffn = 0;        // down reads SwiGLU's outputs
  };
  virtual bool fusesNorms(int64_t T, DType matrixType, const ProjectionWidths& widths) const { return false; }
  // outs[i] = bf16(rmsnorm(residual) * norm) @ ws[i]^T (+ biases[i]); residual unchanged.
  virtual void rmsnormMatmulMany(int n, const Tensor* outs, Tensor residual, const Weight& norm, float eps,
                                 const Weight* const* ws, const Weight* const* biases) {
    throw InvalidArgumentError("internal: this backend does not fold norms into projections");
  }
  // out = silu(h @ gate^T) * (h @ up^T), h = bf16(rmsnorm(residual) * norm), as matmulSwiglu rounds.
  virtual void rmsnormMatmulSwiglu(Tensor out, Tensor residual, const Weight& norm, float eps, const Weight& gate,
                                   const Weight& up) {
    throw InvalidArgumentError("internal: this backend does not fold norms into projections");
  }
  // residual = bf16(residual + bf16(x @ w^T)): the projection and addRmsnorm's add, rounded as they are.
  virtual void matmulIntoResidual(Tensor residual, Tensor x, const Weight& w) {
    throw InvalidArgumentError("internal: this backend does not fold norms into projections");
  }
  // Rotates q and k by each token's position, then writes k and v into layer's cache slots.
  virtual void ropeAndCacheWrite(Tensor q, Tensor k, Tensor v, const StepView& s, int layer,
                                 const RopeShape& rope) = 0;
  // Causal attention of each token over its sequence's cached context (positions 0..its own),
  // reading K/V through the block table.
  virtual void pagedAttention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a) = 0;
  // ropeAndCacheWrite then pagedAttention, as the forward calls them; a backend may fuse the two
  // for some tokens (the CUDA backend: decode tokens), leaving q and k of those tokens unrotated.
  virtual void ropeAttention(Tensor out, Tensor q, Tensor k, Tensor v, const StepView& s, int layer, const RopeShape& rope,
                             const AttentionShape& a) {
    ropeAndCacheWrite(q, k, v, s, layer, rope);
    pagedAttention(out, q, s, layer, a);
  }
  // out = silu(gate) * up
  virtual void swiglu(Tensor out, Tensor gate, Tensor up) = 0;
  // out[r] = rmsnorm(residual[rows[r]] + x[rows[r]]) * w for the step's logit rows.
  virtual void finalNorm(Tensor out, Tensor residual, Tensor x, const StepView& s, const Weight& w, float eps) = 0;
  // Samples one token per logit row (float logits [rows, vocab]) and fills out.tokens / logprobs;
  // also copies the logits to out.logits when the step asks for them.
  // `logits` has the host's numLogitRows rows (a padded view may have more).
  // An overlapping backend (overlapsSteps()) only enqueues the work here and fills `out` in
  // finishSample(); a synchronous one does everything in enqueueSample.
  virtual void enqueueSample(Tensor logits, const StepView& s, const StepView& host, StepOutput& out) = 0;
  virtual void finishSample(const StepView& host, StepOutput& out) { (void)host; (void)out; }
  void sample(Tensor logits, const StepView& s, const StepView& host, StepOutput& out) {
    enqueueSample(logits, s, host, out);
    finishSample(host, out);
  }

  // --- async scheduling (StepView::chainedTokens) ------------------------------------------------
  // False (the default): a step is complete when enqueueSample returns, and the model fills a
  // step's chained tokens on the host from the previous step's output before beginStep.
  // True: the next step may be enqueued before finishSample of this one. The backend keeps the
  // sampled ids on the device and fills the chained tokens in beginStep, in stream order (a row
  // its host fallback redid reads as token 0 and is listed in out.resampledRows); the model keeps
  // two logits buffers, because finishSample may still read this step's logits while the next
  // step writes its own.
  virtual bool overlapsSteps() const { return false; }

  // --- recorded forwards (optional: CUDA graphs of decode steps) --------------------------------
  // For a step whose view has graphKey != 0 the model calls replayGraph(key); if that returns
  // false, beginGraphCapture(key), then the forward (embedding .. logits matmul), then
  // endGraphCapture(key, ok) and replayGraph(key) when capture began. A backend returns false from
  // beginGraphCapture to have the forward run eagerly (e.g. the first time it sees a key, so that
  // lazily sized buffers exist before recording). invalidateGraphs() drops every recording (the
  // model calls it when it reallocates its workspace).
  virtual bool replayGraph(int key) { (void)key; return false; }
  virtual bool beginGraphCapture(int key) { (void)key; return false; }
  virtual void endGraphCapture(int key, bool ok) { (void)key; (void)ok; }
  virtual void invalidateGraphs() {}

  // Whether Model::warmup should run a step of each size class before requests come: a backend
  // with per-shape setup (a GEMM algorithm chosen per token-count bucket) says yes, so that no
  // request's step pays for it.
  virtual bool wantsWarmup() const { return false; }
};

}  // namespace pagedinfer
