#include "model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "errors.h"

namespace pagedinfer {

namespace {

std::string shapeString(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  for (size_t i = 0; i < shape.size(); i++) s << (i ? "x" : "") << shape[i];
  return s.str();
}

// What the forward needs, by canonical name, with its expected shape.
struct Expected {
  std::string name;
  std::vector<int64_t> shape;
  bool asMatrix;
  Weight* slot;
};

std::vector<Expected> expectedTensors(const ModelConfig& c, ModelWeights& w, bool wantOutput) {
  const int64_t H = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize, Q = c.qDim(), KV = c.kvDim();
  std::vector<Expected> e;
  e.push_back({"token_embd.weight", {V, H}, true, &w.tokenEmbd});
  e.push_back({"output_norm.weight", {H}, false, &w.outputNorm});
  if (wantOutput) e.push_back({"output.weight", {V, H}, true, &w.output});
  for (int i = 0; i < c.numLayers; i++) {
    LayerWeights& l = w.layers[i];
    std::string p = "blk." + std::to_string(i) + ".";
    e.push_back({p + "attn_norm.weight", {H}, false, &l.attnNorm});
    e.push_back({p + "attn_q.weight", {Q, H}, true, &l.q});
    e.push_back({p + "attn_k.weight", {KV, H}, true, &l.k});
    e.push_back({p + "attn_v.weight", {KV, H}, true, &l.v});
    e.push_back({p + "attn_output.weight", {H, Q}, true, &l.o});
    if (c.attentionBias) {
      e.push_back({p + "attn_q.bias", {Q}, false, &l.qBias});
      e.push_back({p + "attn_k.bias", {KV}, false, &l.kBias});
      e.push_back({p + "attn_v.bias", {KV}, false, &l.vBias});
    }
    if (c.qkNorm) {
      e.push_back({p + "attn_q_norm.weight", {c.headDim}, false, &l.qNorm});
      e.push_back({p + "attn_k_norm.weight", {c.headDim}, false, &l.kNorm});
    }
    e.push_back({p + "ffn_norm.weight", {H}, false, &l.ffnNorm});
    e.push_back({p + "ffn_gate.weight", {F, H}, true, &l.gate});
    e.push_back({p + "ffn_up.weight", {F, H}, true, &l.up});
    e.push_back({p + "ffn_down.weight", {H, F}, true, &l.down});
  }
  return e;
}

uint64_t nameSeed(const std::string& name, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

}  // namespace

Model::Model(ModelConfig config, std::unique_ptr<Backend> backend)
    : config_(std::move(config)), backend_(std::move(backend)) {
  const ModelConfig& c = config_;
  if (c.hiddenSize <= 0 || c.numLayers <= 0 || c.numHeads <= 0 || c.numKvHeads <= 0 || c.headDim <= 0 ||
      c.vocabSize <= 0 || c.intermediateSize <= 0)
    throw InvalidArgumentError("model config: sizes must be positive");
  if (c.numHeads % c.numKvHeads != 0)
    throw InvalidArgumentError("model config: numHeads (" + std::to_string(c.numHeads) +
                               ") is not a multiple of numKvHeads (" + std::to_string(c.numKvHeads) + ")");
  if (c.rotaryDim <= 0 || c.rotaryDim > c.headDim || c.rotaryDim % 2 != 0 ||
      int(c.ropeInvFreq.size()) != c.rotaryDim / 2)
    throw InvalidArgumentError("model config: rotary dimension and inverse frequencies do not match the head size");
  weights_.layers.resize(c.numLayers);
}

Model::~Model() {
  releaseWorkspace();
  backend_->releaseKvCache();
  releaseWeights();
}

void Model::releaseWeights() {
  for (Weight* w : owned_) backend_->releaseWeight(*w);
  owned_.clear();
}

void Model::load(const std::vector<TensorSource>& tensors, const std::function<void(double)>& progress) {
  std::map<std::string, const TensorSource*> byName;
  for (const TensorSource& t : tensors) byName[t.name] = &t;
  // A file may store the output projection even when it is tied (llama.cpp's converter does).
  bool haveOutput = byName.count("output.weight") > 0;
  if (!config_.tieWordEmbeddings && !haveOutput)
    throw ModelFormatError("missing tensor output.weight (lm_head.weight): the config says embeddings are not tied");
  std::vector<Expected> expected = expectedTensors(config_, weights_, haveOutput);

  uint64_t totalBytes = 0, doneBytes = 0;
  for (const Expected& e : expected) {
    auto it = byName.find(e.name);
    if (it == byName.end()) throw ModelFormatError("missing tensor " + e.name);
    totalBytes += it->second->bytes;
  }
  for (const Expected& e : expected) {
    const TensorSource& src = *byName[e.name];
    if (src.shape != e.shape)
      throw ModelFormatError("tensor " + e.name + ": expected shape " + shapeString(e.shape) + ", file has " +
                             shapeString(src.shape) + " (do config.json's sizes match the weights?)");
    int64_t cols = e.shape.back();
    int64_t rows = e.shape.size() > 1 ? e.shape[0] : 1;
    if (cols % dtypeBlockElems(src.dtype) != 0)
      throw ModelFormatError("tensor " + e.name + ": " + std::to_string(cols) + " columns is not a multiple of the " +
                             dtypeName(src.dtype) + " block size");
    uint64_t want = uint64_t(rows) * uint64_t(dtypeRowBytes(src.dtype, cols));
    if (src.bytes != want)
      throw ModelFormatError("tensor " + e.name + ": " + std::to_string(src.bytes) + " bytes given, " +
                             std::to_string(want) + " expected for " + dtypeName(src.dtype) + " " + shapeString(src.shape));
    const MappedFile& file = files_.open(src.file);
    if (src.offset > file.size() || src.bytes > file.size() - src.offset)
      throw ModelFormatError("tensor " + e.name + " lies outside " + src.file + " (offset " + std::to_string(src.offset) +
                             " + " + std::to_string(src.bytes) + " bytes > file size " + std::to_string(file.size()) +
                             "): is the file truncated?");
    HostTensor host{e.name, file.data() + src.offset, size_t(src.bytes), src.dtype, src.shape};
    *e.slot = backend_->loadWeight(host, e.asMatrix);
    owned_.push_back(e.slot);
    doneBytes += src.bytes;
    if (progress) progress(totalBytes ? double(doneBytes) / double(totalBytes) : 1.0);
  }
  if (!haveOutput) weights_.output = weights_.tokenEmbd;
  joinProjections();
}

void Model::loadDummy(DType dtype, uint64_t seed, const std::function<void(double)>& progress) {
  bool separateOutput = !config_.tieWordEmbeddings;
  std::vector<Expected> expected = expectedTensors(config_, weights_, separateOutput);
  for (size_t i = 0; i < expected.size(); i++) {
    const Expected& e = expected[i];
    int64_t cols = e.shape.back();
    int64_t rows = e.shape.size() > 1 ? e.shape[0] : 1;
    bool isNorm = e.name.find("norm") != std::string::npos;
    // Scale like a trained model's init (std ~ 1/sqrt(fan-in)) so activations stay finite.
    float scale = isNorm ? 0.1f : (e.asMatrix ? 1.7f / std::sqrt(float(cols)) : 0.02f);
    *e.slot = backend_->randomWeight(e.asMatrix ? dtype : DType::F32, rows, cols, nameSeed(e.name, seed),
                                     isNorm ? 1.0f : 0.0f, scale);
    owned_.push_back(e.slot);
    if (progress) progress(double(i + 1) / double(expected.size()));
  }
  if (!separateOutput) weights_.output = weights_.tokenEmbd;
  joinProjections();
}

void Model::joinProjections() {
  if (!backend_->fusesProjections(matrixType())) return;
  for (LayerWeights& l : weights_.layers) {
    Weight* qkv[3] = {&l.q, &l.k, &l.v};
    Weight* gateUp[2] = {&l.gate, &l.up};
    backend_->joinWeights(qkv, 3);
    backend_->joinWeights(gateUp, 2);
  }
  fusedProjections_ = true;
  if (ws_.tokens > 0) {  // a workspace made before (never in practice) gets the fused layout
    const int64_t tokens = ws_.tokens, logitRows = ws_.logitRows;
    releaseWorkspace();
    ensureWorkspace(tokens, logitRows);
  }
}

DType Model::matrixType() const {
  if (weights_.layers.empty()) return DType::F32;
  const DType first = weights_.layers[0].q.dtype;
  for (const LayerWeights& l : weights_.layers)
    for (const Weight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      if (w->dtype != first) return DType::F32;
  return first;
}

size_t Model::availableMemory() const {
  size_t cache = kv_.numBlocks > 0 ? kvCacheBytesPerBlock(kv_.blockSize) * size_t(kv_.numBlocks) : 0;
  return backend_->availableMemory() + cache;
}

size_t Model::weightBytes() const {
  size_t total = 0;
  for (const Weight* w : owned_) total += w->bytes();
  return total;
}

size_t Model::kvCacheBytesPerBlock(int blockSize) const {
  KvCacheShape s{config_.numLayers, 1, blockSize, config_.numKvHeads, config_.headDim};
  return backend_->kvCacheBytesPerBlock(s);
}

void Model::initKvCache(int numBlocks, int blockSize) {
  if (numBlocks <= 0 || blockSize <= 0) throw InvalidArgumentError("KV cache: numBlocks and blockSize must be positive");
  backend_->releaseKvCache();
  kv_ = KvCacheShape{config_.numLayers, numBlocks, blockSize, config_.numKvHeads, config_.headDim};
  backend_->allocKvCache(kv_);
}

Tensor Model::allocTensor(DType dtype, int64_t rows, int64_t cols) {
  int64_t bytes = dtypeRowBytes(dtype, cols) * rows;
  return Tensor{backend_->alloc(size_t(bytes > 0 ? bytes : 1)), dtype, rows, cols};
}

void Model::releaseWorkspace() {
  if (ws_.qkv.data) ws_.q = ws_.k = ws_.v = Tensor{};  // views into qkv
  for (Tensor* t : {&ws_.residual, &ws_.x, &ws_.h, &ws_.qkv, &ws_.q, &ws_.k, &ws_.v, &ws_.attn, &ws_.gate, &ws_.up,
                    &ws_.last, &ws_.logits[0], &ws_.logits[1]}) {
    if (t->data) backend_->release(t->data);
    *t = Tensor{};
  }
  ws_.tokens = ws_.logitRows = 0;
}

void Model::reserveWorkspace(int64_t tokens, int64_t logitRows) {
  if (tokens <= 0 || logitRows <= 0) throw InvalidArgumentError("reserveWorkspace: sizes must be positive");
  if (ensureWorkspace(tokens, logitRows)) backend_->invalidateGraphs();
}

bool Model::ensureWorkspace(int64_t tokens, int64_t logitRows) {
  if (tokens <= ws_.tokens && logitRows <= ws_.logitRows) return false;
  tokens = std::max(tokens, ws_.tokens);
  logitRows = std::max<int64_t>(std::max(logitRows, ws_.logitRows), 1);
  releaseWorkspace();
  const ModelConfig& c = config_;
  DType a = backend_->activationType();
  ws_.residual = allocTensor(a, tokens, c.hiddenSize);
  ws_.x = allocTensor(a, tokens, c.hiddenSize);
  ws_.h = allocTensor(a, tokens, c.hiddenSize);
  if (fusedProjections_) {
    ws_.qkv = allocTensor(a, tokens, c.qDim() + 2 * c.kvDim());
    ws_.q = ws_.qkv.columns(0, c.qDim());
    ws_.k = ws_.qkv.columns(c.qDim(), c.kvDim());
    ws_.v = ws_.qkv.columns(c.qDim() + c.kvDim(), c.kvDim());
  } else {
    ws_.q = allocTensor(a, tokens, c.qDim());
    ws_.k = allocTensor(a, tokens, c.kvDim());
    ws_.v = allocTensor(a, tokens, c.kvDim());
  }
  ws_.attn = allocTensor(a, tokens, c.qDim());
  ws_.gate = allocTensor(a, tokens, c.intermediateSize);
  ws_.up = allocTensor(a, tokens, (fusedProjections_ ? 2 : 1) * c.intermediateSize);
  ws_.last = allocTensor(a, logitRows, c.hiddenSize);
  ws_.logits[0] = allocTensor(DType::F32, logitRows, c.vocabSize);
  if (backend_->overlapsSteps()) ws_.logits[1] = allocTensor(DType::F32, logitRows, c.vocabSize);
  ws_.tokens = tokens;
  ws_.logitRows = logitRows;
  return true;
}

StepView Model::withChainedTokens(const StepView& host) {
  // Whatever happens to this step, the next one must not chain to an older step's tokens.
  const int prevRows = prevRows_;
  prevRows_ = 0;
  StepView v = host;
  if (host.numChainedTokens == 0) return v;
  for (int i = 0; i < host.numChainedTokens; i++) {
    const int32_t index = host.chainedTokens[2 * i], row = host.chainedTokens[2 * i + 1];
    if (index < 0 || index >= host.numTokens) throw InvalidArgumentError("chainedTokens: token index outside the step");
    if (row < 0 || row >= prevRows)
      throw InvalidArgumentError("chainedTokens: row " + std::to_string(row) + " of the previous step, which left " +
                                 std::to_string(prevRows) + " sampled rows (did it fail?)");
  }
  if (backend_->overlapsSteps()) return v;  // beginStep gathers them on the device
  chainedTokenIds_.assign(host.tokenIds, host.tokenIds + host.numTokens);
  for (int i = 0; i < host.numChainedTokens; i++)
    chainedTokenIds_[size_t(host.chainedTokens[2 * i])] = prevTokens_[size_t(host.chainedTokens[2 * i + 1])];
  v.tokenIds = chainedTokenIds_.data();
  v.numChainedTokens = 0;
  v.chainedTokens = nullptr;
  return v;
}

void Model::waitForFinishedSteps() {
  std::unique_lock<std::mutex> lock(pendingMutex_);
  pendingDone_.wait(lock, [this] { return pendingSteps_ == 0; });
}

void Model::enqueueStep(const StepView& host, StepOutput& out) {
  launchStep(host, out);
  std::lock_guard<std::mutex> lock(pendingMutex_);
  pendingSteps_++;
}

void Model::launchStep(const StepView& host, StepOutput& out) {
  if (kv_.numBlocks == 0) throw InvalidArgumentError("step before the KV cache was initialised");
  const ModelConfig& c = config_;
  Backend& b = *backend_;
  out = StepOutput{};
  const StepView in = withChainedTokens(host);
  // The backend may pad a decode step to a graph bucket: size everything from its view.
  const StepView& s = b.beginStep(in);
  if (s.numTokens > ws_.tokens || s.numLogitRows > ws_.logitRows) waitForFinishedSteps();  // it may read its logits
  if (ensureWorkspace(s.numTokens, s.numLogitRows)) b.invalidateGraphs();  // recorded graphs use the old buffers
  if (s.numBlockCopies > 0) b.copyBlocks(s);
  // Overlapping steps alternate between two logits buffers, and so between two graphs per bucket.
  const int turn = b.overlapsSteps() ? logitsTurn_ : 0;
  logitsTurn_ ^= 1;
  if (s.numTokens == 0) return;

  const int64_t T = s.numTokens;
  Tensor residual = ws_.residual.firstRows(T), x = ws_.x.firstRows(T), h = ws_.h.firstRows(T);
  Tensor q = ws_.q.firstRows(T), k = ws_.k.firstRows(T), v = ws_.v.firstRows(T), attn = ws_.attn.firstRows(T);
  Tensor gate = ws_.gate.firstRows(T), up = ws_.up.firstRows(T);
  RopeShape rope{c.ropeInvFreq.data(), c.rotaryDim, c.ropeNeox, c.numHeads, c.numKvHeads, c.headDim};
  AttentionShape att{c.numHeads, c.numKvHeads, c.headDim, 1.0f / std::sqrt(float(c.headDim))};

  // Decode-sized steps on some backends: the norms ride in the projections (Backend::fusesNorms);
  // the residual then takes each o / down output as it is made, except the last layer's down,
  // which the final norm adds as before.
  const bool fuseNorms = b.fusesNorms(T, matrixType(), {c.hiddenSize, c.qDim(), c.intermediateSize});
  // Embedding .. logits: the part a backend may record once per bucket and replay.
  auto forward = [&] {
    b.embedding(residual, s, weights_.tokenEmbd);
    for (int l = 0; l < c.numLayers; l++) {
      const LayerWeights& w = weights_.layers[l];
      const Tensor qkv[3] = {q, k, v};
      const Weight* qkvWeights[3] = {&w.q, &w.k, &w.v};
      const Weight* qkvBiases[3] = {w.qBias.present() ? &w.qBias : nullptr, w.kBias.present() ? &w.kBias : nullptr,
                                    w.vBias.present() ? &w.vBias : nullptr};
      if (fuseNorms) {
        b.rmsnormMatmulMany(3, qkv, residual, w.attnNorm, c.rmsNormEps, qkvWeights, qkvBiases);
      } else {
        if (l == 0) b.rmsnorm(h, residual, w.attnNorm, c.rmsNormEps);
        else b.addRmsnorm(h, residual, x, w.attnNorm, c.rmsNormEps);
        b.matmulMany(3, qkv, h, qkvWeights, qkvBiases);
      }
      if (c.qkNorm) {
        b.headRmsnorm(q, c.numHeads, c.headDim, w.qNorm, c.rmsNormEps);
        b.headRmsnorm(k, c.numKvHeads, c.headDim, w.kNorm, c.rmsNormEps);
      }
      b.ropeAttention(attn, q, k, v, s, l, rope, att);
      if (fuseNorms) {
        b.matmulIntoResidual(residual, attn, w.o);
        b.rmsnormMatmulSwiglu(gate, residual, w.ffnNorm, c.rmsNormEps, w.gate, w.up);
        if (l + 1 < c.numLayers) b.matmulIntoResidual(residual, gate, w.down);
        else b.matmul(x, gate, w.down, nullptr);
      } else {
        b.matmul(x, attn, w.o, nullptr);
        b.addRmsnorm(h, residual, x, w.ffnNorm, c.rmsNormEps);
        b.matmulSwiglu(gate, h, w.gate, w.up, up);
        b.matmul(x, gate, w.down, nullptr);
      }
    }
    if (s.numLogitRows == 0) return;
    Tensor last = ws_.last.firstRows(s.numLogitRows), logits = ws_.logits[turn].firstRows(s.numLogitRows);
    b.finalNorm(last, residual, x, s, weights_.outputNorm, c.rmsNormEps);
    b.matmul(logits, last, weights_.output, nullptr);
  };
  const int key = s.graphKey > 0 ? 2 * s.graphKey + turn : 0;
  if (key == 0 || !b.replayGraph(key)) {
    const bool capturing = key != 0 && b.beginGraphCapture(key);
    try {
      forward();
    } catch (...) {
      if (capturing) b.endGraphCapture(key, false);
      throw;
    }
    if (capturing) {
      b.endGraphCapture(key, true);
      if (!b.replayGraph(key)) throw DeviceError("a freshly recorded decode graph did not replay");
    }
  }
  if (host.numLogitRows == 0) return;
  b.enqueueSample(ws_.logits[turn].firstRows(host.numLogitRows), s, host, out);
  if (host.sampling) {
    if (!b.overlapsSteps()) prevTokens_ = out.tokens;  // complete already (see Backend::overlapsSteps)
    prevRows_ = host.numLogitRows;
  }
}

void Model::finishStep(const StepView& host, StepOutput& out) {
  struct Finished {  // counted even when finishSample throws
    Model* m;
    ~Finished() {
      std::lock_guard<std::mutex> lock(m->pendingMutex_);
      m->pendingSteps_--;
      m->pendingDone_.notify_all();
    }
  } finished{this};
  backend_->finishSample(host, out);
}

}  // namespace pagedinfer
