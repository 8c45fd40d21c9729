// A loaded model on one backend: its weights, its paged KV cache, the activation workspace, and
// the transformer forward of one StepBatch. The forward is written once, against Backend ops.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "mapped_file.h"
#include "model_config.h"

namespace pagedinfer {

// Where a tensor's bytes lie, as lib/model/ found them (canonical name, file, offset).
struct TensorSource {
  std::string name;
  std::string file;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

struct LayerWeights {
  Weight attnNorm, q, k, v, o, qBias, kBias, vBias, qNorm, kNorm;
  Weight ffnNorm, gate, up, down;
};

struct ModelWeights {
  Weight tokenEmbd, outputNorm, output;
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  Model(ModelConfig config, std::unique_ptr<Backend> backend);
  ~Model();

  // Memory-maps the files and hands every tensor to the backend. Throws ModelFormatError naming
  // the tensor when one is missing, of the wrong shape or type, or outside its file.
  void load(const std::vector<TensorSource>& tensors, const std::function<void(double)>& progress);
  // Random weights of the right shapes (benchmarks without downloading weights).
  void loadDummy(DType dtype, uint64_t seed, const std::function<void(double)>& progress);

  size_t kvCacheBytesPerBlock(int blockSize) const;
  // Allocates the activation workspace for the largest step now, so a KV cache sized afterwards
  // from the memory left cannot starve it (an out-of-memory at the first big step otherwise).
  void reserveWorkspace(int64_t tokens, int64_t logitRows);
  // Bytes of the weights as the backend holds them (after any conversion on upload).
  size_t weightBytes() const;
  void initKvCache(int numBlocks, int blockSize);
  // Memory a KV cache could use: what the backend has free plus the current cache, which
  // initKvCache releases before it allocates (an engine re-created on the same model must not
  // size its cache from what the previous cache left over).
  size_t availableMemory() const;

  // One logits-only step of each power-of-two token count up to maxTokens (one sequence) and of
  // each power-of-two decode batch up to maxSeqs, when the backend wants it (warmup.cpp). Writes
  // no KV slot; needs the KV cache (it reads block 0). `always`: even if the backend has no use
  // for it (tests).
  void warmup(int maxTokens, int maxSeqs, bool always = false);

  // Runs one step. `host` has been checked by the caller against the cache's size.
  void step(const StepView& host, StepOutput& out) {
    enqueueStep(host, out);
    finishStep(host, out);
  }
  // The two halves of step(), for async scheduling: enqueueStep launches the step (on a
  // synchronous backend it runs it whole), finishStep waits for its results. Steps are enqueued
  // one at a time, in order; the next step's enqueueStep may run (on another thread) before this
  // step's finishStep, but no third (at most two steps between enqueueStep and finishStep), and
  // finishSteps come in the order of the enqueues. `host` must stay valid
  // until finishStep returns. A step whose enqueueStep threw gets no finishStep. A workspace that
  // must grow waits in enqueueStep for the pending finishStep (reserveWorkspace avoids that).
  void enqueueStep(const StepView& host, StepOutput& out);
  void finishStep(const StepView& host, StepOutput& out);

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return *backend_; }
  int numBlocks() const { return kv_.numBlocks; }
  int blockSize() const { return kv_.blockSize; }

 private:
  struct Workspace {
    int64_t tokens = 0, logitRows = 0;
    Tensor residual, x, h, q, k, v, attn, gate, up;
    Tensor last, logits[2];  // logits[1] only for an overlapping backend (Backend::overlapsSteps)
    // With fused projections: q, k and v are column views of qkv, and up holds gate's and up's
    // products side by side (twice gate's columns).
    Tensor qkv;
  };
  // Grows the workspace to hold a step of this size; true when it reallocated.
  bool ensureWorkspace(int64_t tokens, int64_t logitRows);
  void releaseWorkspace();
  Tensor allocTensor(DType dtype, int64_t rows, int64_t cols);
  void releaseWeights();
  // After loading: q/k/v and gate/up joined into one matrix each where the backend runs them so
  // (Backend::fusesProjections).
  void joinProjections();
  // The type every layer matrix shares (q, k, v, o, gate, up, down), or F32 when they differ
  // (mixed GGUF quantizations) or before weights are loaded.
  DType matrixType() const;
  // The view beginStep gets: chained tokens filled in on the host unless the backend does it.
  StepView withChainedTokens(const StepView& host);
  void launchStep(const StepView& host, StepOutput& out);  // enqueueStep less the bookkeeping
  void waitForFinishedSteps();

  ModelConfig config_;
  std::unique_ptr<Backend> backend_;
  MappedFiles files_;
  ModelWeights weights_;
  std::vector<Weight*> owned_;  // every distinct loaded weight, for release
  bool fusedProjections_ = false;
  Workspace ws_;
  KvCacheShape kv_;

  // Async scheduling. prevTokens_: the last step's sampled ids on the host (backends that do not
  // overlap steps); prevRows_: how many rows a chained step may read.
  std::vector<int32_t> prevTokens_, chainedTokenIds_;
  int prevRows_ = 0;
  int logitsTurn_ = 0;
  // Steps enqueued whose finishStep has not returned: the workspace must not be reallocated under
  // a finishStep that may still read its logits.
  std::mutex pendingMutex_;
  std::condition_variable pendingDone_;
  int pendingSteps_ = 0;
};

}  // namespace pagedinfer
