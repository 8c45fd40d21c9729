// CudaBackend: the step's index arrays on the device, the ops of the forward, and CUDA graphs.
//
// beginStep packs the step's arrays into one pinned buffer and sends them with one copy (the block
// table with a second, strided copy into a table of fixed width). Every array's device address
// depends only on the step's sizes, so a decode step padded to a bucket size (1, 2, 4, 8, 16, 32,
// 48, 64, 96, 128, 192, 256 tokens) has the same addresses as the last one of its bucket: its
// forward can be recorded once as a CUDA graph and replayed with only the arrays' contents new.
// A step's chained tokens (async scheduling) are gathered into its tokenIds on the device right
// after the upload, outside any graph, from the ids the previous step's sampler left there.
#include <algorithm>
#include <cstring>

#include "../core/errors.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "kernels.h"

namespace pagedinfer {

namespace {

constexpr int kBuckets[] = {1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256};

int bucketFor(int n) {
  for (int b : kBuckets)
    if (n <= b) return b;
  return 0;
}

int nextPow2(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

const uint16_t* bf(const Tensor& t) { return static_cast<const uint16_t*>(t.data); }
uint16_t* bfm(const Tensor& t) { return static_cast<uint16_t*>(t.data); }
const float* f32(const Weight& w) { return static_cast<const float*>(w.data); }

}  // namespace

// The op profile's grouping of steps: graph decodes by bucket, eager steps by kind and token count.
std::string CudaBackend::profileKind(int bucket, int tokens) const {
  if (bucket > 0) return "decode graph " + std::to_string(bucket);
  const char* kind = numDecode_ > 0 ? (numPrefillTokens_ > 0 ? "mixed" : "decode eager") : "prefill";
  return std::string(kind) + " <=" + std::to_string(nextPow2(std::max(tokens, 1))) + " tokens";
}

const StepView& CudaBackend::beginStep(const StepView& host) {
  activate();
  const int hostT = host.numTokens, hostS = host.numSeqs;
  bool decodeOnly = options_.graphs && hostT > 0 && hostT == hostS;
  for (int s = 0; decodeOnly && s < hostS; s++) decodeOnly = host.queryStart[s + 1] - host.queryStart[s] == 1;
  const int bucket = decodeOnly ? bucketFor(hostT) : 0;
  graphStep_ = bucket > 0;
  const int T = graphStep_ ? bucket : hostT, S = graphStep_ ? bucket : hostS;
  const int L = graphStep_ ? bucket : host.numLogitRows, C = host.numBlockCopies, K = host.numChainedTokens;

  // Layout (int32): tokenIds, positions, slotMapping, tokenSeq, decodeTokens, prefillTokens,
  // decodeSeqs, decodeContexts [T each], logitRows [L], queryStart [S + 1], seqLens [S],
  // blockCopies [2C], chainedTokens [2K]. The decode kernel reads a decode token's sequence and
  // context length from the host's lists in one load instead of three dependent ones.
  const size_t oTok = 0, oPos = size_t(T), oSlot = 2 * size_t(T), oSeq = 3 * size_t(T), oDec = 4 * size_t(T),
               oPre = 5 * size_t(T), oDecSeq = 6 * size_t(T), oDecCtx = 7 * size_t(T), oRows = 8 * size_t(T),
               oQs = oRows + L, oLens = oQs + S + 1, oCopies = oLens + S, oChain = oCopies + 2 * size_t(C),
               total = oChain + 2 * size_t(K);
  ensureDevice(stepDevice_, total * 4);
  ensurePinned(stepPinned_, total * 4);
  CUDA_CHECK(cudaEventSynchronize(stepEvent_));  // the previous step's copies have left the pinned buffers
  int32_t* h = static_cast<int32_t*>(stepPinned_.ptr);
  std::memcpy(h + oTok, host.tokenIds, size_t(hostT) * 4);
  std::memcpy(h + oPos, host.positions, size_t(hostT) * 4);
  std::memcpy(h + oSlot, host.slotMapping, size_t(hostT) * 4);
  for (int t = hostT; t < T; t++) h[oTok + t] = 0, h[oPos + t] = 0, h[oSlot + t] = -1;
  std::memcpy(h + oQs, host.queryStart, size_t(hostS + 1) * 4);
  std::memcpy(h + oLens, host.seqLens, size_t(hostS) * 4);
  for (int s = hostS; s < S; s++) h[oQs + s + 1] = s + 1, h[oLens + s] = 0;
  if (host.numLogitRows > 0) std::memcpy(h + oRows, host.logitRows, size_t(host.numLogitRows) * 4);
  for (int r = host.numLogitRows; r < L; r++) h[oRows + r] = r;
  if (C > 0) std::memcpy(h + oCopies, host.blockCopies, size_t(2 * C) * 4);
  if (K > 0) std::memcpy(h + oChain, host.chainedTokens, size_t(2 * K) * 4);
  numDecode_ = numPrefillTokens_ = maxDecodeCtx_ = 0;
  hostQueryStart_.assign(h + oQs, h + oQs + S + 1);
  for (int s = 0; s < S; s++) {
    const int q0 = h[oQs + s], q1 = h[oQs + s + 1];
    for (int t = q0; t < q1; t++) {
      h[oSeq + t] = s;
      if (q1 - q0 == 1) {
        h[oDecSeq + numDecode_] = s;
        h[oDecCtx + numDecode_] = std::min(h[oPos + t] + 1, h[oLens + s]);
        h[oDec + numDecode_++] = t;
        maxDecodeCtx_ = std::max(maxDecodeCtx_, h[oPos + t] + 1);
      } else {
        h[oPre + numPrefillTokens_++] = t;
      }
    }
  }
  int32_t* d = static_cast<int32_t*>(stepDevice_.ptr);
  CUDA_CHECK(cudaMemcpyAsync(d, h, total * 4, cudaMemcpyHostToDevice, stream_));
  // Model::enqueueStep checked every pair against the rows prevIds_ holds.
  if (K > 0) cuda::launchGatherChainedTokens(d + oTok, d + oChain, K, static_cast<const int32_t*>(prevIds_.ptr), stream_);

  // Block table: a fixed width (a power of two, grown as contexts grow) so graphs keep their shape.
  const int width = std::max(16, nextPow2(std::max(host.maxBlocksPerSeq, 1)));
  if (width > tableWidth_ || S > tableRows_) {
    tableWidth_ = std::max(tableWidth_, width);
    tableRows_ = std::max(tableRows_, nextPow2(S));
    ensureDevice(tableDevice_, size_t(tableWidth_) * tableRows_ * 4);
    invalidateGraphs();  // the decode grid depends on the width
  }
  if (hostS > 0 && host.maxBlocksPerSeq > 0) {
    const size_t bytes = size_t(hostS) * host.maxBlocksPerSeq * 4;
    ensurePinned(tablePinned_, bytes);
    std::memcpy(tablePinned_.ptr, host.blockTable, bytes);
    CUDA_CHECK(cudaMemcpy2DAsync(tableDevice_.ptr, size_t(tableWidth_) * 4, tablePinned_.ptr, size_t(host.maxBlocksPerSeq) * 4,
                                 size_t(host.maxBlocksPerSeq) * 4, size_t(hostS), cudaMemcpyHostToDevice, stream_));
  }
  CUDA_CHECK(cudaEventRecord(stepEvent_, stream_));

  view_ = StepView{};
  view_.numTokens = T;
  view_.numSeqs = S;
  view_.maxBlocksPerSeq = tableWidth_;
  view_.numLogitRows = L;
  view_.numBlockCopies = C;
  view_.tokenIds = d + oTok;
  view_.positions = d + oPos;
  view_.slotMapping = d + oSlot;
  view_.tokenSeq = d + oSeq;
  view_.logitRows = d + oRows;
  view_.queryStart = d + oQs;
  view_.seqLens = d + oLens;
  view_.blockCopies = d + oCopies;
  view_.blockTable = static_cast<const int32_t*>(tableDevice_.ptr);
  view_.sampling = host.sampling;  // host memory: only sample() reads it, through the host view
  view_.returnLogits = host.returnLogits;
  view_.graphKey = bucket;
  decodeTokens_ = d + oDec;
  decodeSeqs_ = d + oDecSeq;
  decodeContexts_ = d + oDecCtx;
  prefillTokens_ = d + oPre;
  tilesGroup_ = -1;
  if (profile_) profile_->beginStep(stream_, profileKind(bucket, hostT));
  return view_;
}

void CudaBackend::copyBlocks(const StepView& s) {
  beginOp("copy blocks");
  const int64_t blockElems = int64_t(kv_.blockSize) * kv_.numKvHeads * kv_.headDim;
  cuda::launchCopyBlocks(kvCache_, s.blockCopies, s.numBlockCopies, kv_.numLayers, kv_.numBlocks, blockElems, stream_);
}

void CudaBackend::embedding(Tensor out, const StepView& s, const Weight& table) {
  beginOp("embedding");
  cuda::launchEmbedding(bfm(out), s.tokenIds, s.numTokens, table.data, table.dtype, table.cols, stream_);
}

void CudaBackend::rmsnorm(Tensor out, Tensor x, const Weight& w, float eps) {
  beginOp("rmsnorm");
  cuda::launchRmsnorm(bfm(out), nullptr, bf(x), f32(w), int(x.rows), int(x.cols), eps, stream_);
}

void CudaBackend::addRmsnorm(Tensor out, Tensor residual, Tensor x, const Weight& w, float eps) {
  beginOp("add + rmsnorm");
  cuda::launchRmsnorm(bfm(out), bfm(residual), bf(x), f32(w), int(x.rows), int(x.cols), eps, stream_);
}

void CudaBackend::headRmsnorm(Tensor x, int numHeads, int headDim, const Weight& w, float eps) {
  beginOp("head rmsnorm");
  cuda::launchHeadRmsnorm(bfm(x), int(x.rows), x.ld(), numHeads, headDim, f32(w), eps, stream_);
}

void CudaBackend::swiglu(Tensor out, Tensor gate, Tensor up) {
  beginOp("swiglu");
  const int64_t n = gate.rows * gate.cols;  // packed buffers: one row of all values
  cuda::launchSwiglu(bfm(out), bf(gate), bf(up), 1, n, n, stream_);
}

void CudaBackend::finalNorm(Tensor out, Tensor residual, Tensor x, const StepView& s, const Weight& w, float eps) {
  beginOp("final norm");
  cuda::launchFinalNorm(bfm(out), bf(residual), bf(x), s.logitRows, s.numLogitRows, int(x.cols), f32(w), eps, stream_);
}

// The inverse frequencies go to the device once; a different table (another model, a test) is
// noticed by comparing the host copy.
void CudaBackend::uploadRopeTable(const RopeShape& rope) {
  const size_t n = size_t(rope.rotaryDim / 2);
  if (ropeHost_.size() == n && std::equal(ropeHost_.begin(), ropeHost_.end(), rope.invFreq)) return;
  if (capturing_) throw DeviceError("internal: the rotary table changed while a CUDA graph was being recorded");
  ensureDevice(ropeTable_, std::max<size_t>(n, 1) * 4);
  ropeHost_.assign(rope.invFreq, rope.invFreq + n);
  upload(ropeTable_.ptr, ropeHost_.data(), n * 4);
}

void CudaBackend::ropeAndCacheWrite(Tensor q, Tensor k, Tensor v, const StepView& s, int layer, const RopeShape& rope) {
  beginOp("rope + cache write");
  const cuda::KvLayer l = kvLayer(layer);
  if (rope.headDim != l.headDim || rope.numKvHeads != l.numKvHeads)
    throw InvalidArgumentError("ropeAndCacheWrite: head shape differs from the KV cache's");
  uploadRopeTable(rope);
  cuda::launchRopeCacheWrite(bfm(q), bfm(k), bf(v), q.ld(), k.ld(), v.ld(), s.positions, s.slotMapping, nullptr, s.numTokens,
                             static_cast<const float*>(ropeTable_.ptr), rope.rotaryDim, rope.neox, rope.numHeads, l,
                             stream_);
}

// Prefill query tiles of 64 / group tokens, built once per step (they depend on the GQA group).
void CudaBackend::buildPrefillTiles(int group) {
  if (tilesGroup_ == group) return;
  const int perTile = std::max(1, 64 / group);
  std::vector<int32_t> tiles;
  for (size_t s = 0; s + 1 < hostQueryStart_.size(); s++) {
    const int q0 = hostQueryStart_[s], q1 = hostQueryStart_[s + 1];
    if (q1 - q0 <= 1) continue;
    for (int t = q0; t < q1; t += perTile) tiles.insert(tiles.end(), {int32_t(s), t, std::min(q1, t + perTile), 0});
  }
  numTiles_ = int(tiles.size() / 4);
  ensureDevice(tilesDevice_, std::max<size_t>(tiles.size(), 4) * 4);
  ensurePinned(tilesPinned_, std::max<size_t>(tiles.size(), 4) * 4);
  // The pinned tiles of an earlier step are no longer in flight (an event, not a stream sync: the
  // previous step may still be running while this one is enqueued).
  CUDA_CHECK(cudaEventSynchronize(tilesEvent_));
  std::memcpy(tilesPinned_.ptr, tiles.data(), tiles.size() * 4);
  CUDA_CHECK(cudaMemcpyAsync(tilesDevice_.ptr, tilesPinned_.ptr, tiles.size() * 4, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaEventRecord(tilesEvent_, stream_));
  tilesGroup_ = group;
}

int CudaBackend::decodeCtasPerSm(int headDim, int variant) const {
  const auto key = std::make_pair(headDim, variant);
  auto it = decodeCtas_.find(key);
  if (it == decodeCtas_.end()) it = decodeCtas_.emplace(key, cuda::decodeCtasPerSm(headDim, variant)).first;
  return it->second;
}

// The decode kernel's variant: with few (token, kv head) items the context is split into many
// short partitions and each CTA's latency is what counts; 4 warps over 64-key tiles (variant 0)
// then beat the throughput default (2 warps over 32-key tiles with an L2 prefetch, variant 4; 91%
// of copy bandwidth at batch 64): batch-1 8B step 162.0 -> 164.8 tok/s (docs/cuda-kernels.md L7).
int CudaBackend::decodeVariantFor(int items, int numKvHeads, int headDim) const {
  if (decodeVariant_ >= 0) return decodeVariant_;
  const int throughputSlots = multiprocessors_ * decodeCtasPerSm(headDim, 4);
  return 4 * items * numKvHeads <= throughputSlots ? 0 : 4;
}

// Partitions of the context for the decode kernel. Splitting costs a combine and partial
// results; not splitting leaves SMs idle when there are few (token, kv head) items. So: one
// partition when the items fill every resident CTA slot at least once, otherwise as many as fill
// the slots, at most one per 64 keys of the longest context the step may see (graph steps: the
// table width, which only grows; eager steps: this step's longest context). Each item then splits
// its own context into 64-key multiples over that many (partition size 0: the kernel's choice),
// so a graph recorded for a wide table still gives a short context 64-key partitions.
CudaBackend::DecodeSplit CudaBackend::decodeSplitFor(int items, int maxCtx, int numKvHeads, int headDim, int variant) const {
  if (decodePartition_ > 0) {  // fixed: a multiple of the variant's tile
    const int unit = cuda::decodeKeysPerTile(variant);
    const int partition = std::max(unit, (decodePartition_ + unit - 1) / unit * unit);
    return {std::max(1, (maxCtx + partition - 1) / partition), partition};
  }
  const int tiles = std::max(1, (maxCtx + 63) / 64);
  const int slots = multiprocessors_ * decodeCtasPerSm(headDim, variant);
  const int ctas = std::max(1, items * numKvHeads);
  return {ctas >= slots ? 1 : std::min(tiles, slots / ctas), 0};
}

void CudaBackend::pagedAttention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a) {
  attention(out, q, s, layer, a, cuda::DecodeRope{});
}

// Rope + cache write and attention as one op: the prefill tokens go through the rope kernel (a list
// of them), the decode tokens' rotation and cache write are done by the decode attention kernel
// (one kernel fewer on the batch-1 chain). Shapes the decode kernel or the 16-byte rope path do not
// take run the two ops.
void CudaBackend::ropeAttention(Tensor out, Tensor q, Tensor k, Tensor v, const StepView& s, int layer,
                                const RopeShape& rope, const AttentionShape& a) {
  const bool fuse = fuseDecodeRope_ && numDecode_ > 0 && a.numKvHeads > 0 && a.numHeads % a.numKvHeads == 0 &&
                    cuda::decodeKernelSupports(a.headDim, a.numHeads / a.numKvHeads) && rope.headDim == a.headDim &&
                    rope.numHeads == a.numHeads && rope.numKvHeads == a.numKvHeads &&
                    cuda::ropeVectorized(rope.headDim, rope.rotaryDim, q.ld(), k.ld(), v.ld());
  if (!fuse) {
    Backend::ropeAttention(out, q, k, v, s, layer, rope, a);
    return;
  }
  const cuda::KvLayer l = kvLayer(layer);
  if (rope.headDim != l.headDim || rope.numKvHeads != l.numKvHeads)
    throw InvalidArgumentError("ropeAttention: head shape differs from the KV cache's");
  uploadRopeTable(rope);
  const float* invFreq = static_cast<const float*>(ropeTable_.ptr);
  if (numPrefillTokens_ > 0) {
    beginOp("rope + cache write");
    cuda::launchRopeCacheWrite(bfm(q), bfm(k), bf(v), q.ld(), k.ld(), v.ld(), s.positions, s.slotMapping, prefillTokens_,
                               numPrefillTokens_, invFreq, rope.rotaryDim, rope.neox, rope.numHeads, l, stream_);
  }
  attention(out, q, s, layer, a,
            cuda::DecodeRope{bf(k), bf(v), k.ld(), v.ld(), s.slotMapping, invFreq, rope.rotaryDim, rope.neox});
}

void CudaBackend::attention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a,
                            const cuda::DecodeRope& rope) {
  beginOp("attention");
  cuda::AttentionArgs args;
  args.out = bfm(out);
  args.q = bf(q);
  args.qStride = q.ld();
  args.outStride = out.ld();
  args.kv = kvLayer(layer);
  args.positions = s.positions;
  args.tokenSeq = s.tokenSeq;
  args.seqLens = s.seqLens;
  args.blockTable = s.blockTable;
  args.tableStride = s.maxBlocksPerSeq;
  args.numHeads = a.numHeads;
  args.scale = a.scale;
  if (a.headDim != args.kv.headDim || a.numKvHeads != args.kv.numKvHeads || a.numHeads % a.numKvHeads != 0)
    throw InvalidArgumentError("pagedAttention: head shape differs from the KV cache's");
  const int group = a.numHeads / a.numKvHeads;
  if (numDecode_ > 0) {
    if (cuda::decodeKernelSupports(a.headDim, group)) {
      const int maxCtx = graphStep_ ? tableWidth_ * kv_.blockSize : maxDecodeCtx_;
      const int variant = decodeVariantFor(numDecode_, a.numKvHeads, a.headDim);
      const DecodeSplit split = decodeSplitFor(numDecode_, maxCtx, a.numKvHeads, a.headDim, variant);
      const int parts = split.parts;
      float* partials = nullptr;
      int* arrivals = nullptr;
      if (parts > 1) {
        ensureDevice(partials_, cuda::decodePartialFloats(numDecode_, a.numHeads, parts, a.headDim) * 4);
        partials = static_cast<float*>(partials_.ptr);
        ensureZeroedDevice(arrivals_, cuda::decodeArrivalInts(numDecode_, a.numKvHeads) * 4);
        arrivals = static_cast<int*>(arrivals_.ptr);
      }
      const cuda::DecodeItems items{decodeTokens_, decodeSeqs_, decodeContexts_};
      cuda::launchPagedDecode(args, items, numDecode_, parts, split.partition, partials, arrivals, variant, rope,
                              stream_);
    } else {
      cuda::launchPagedFallback(args, decodeTokens_, numDecode_, stream_);
    }
  }
  if (numPrefillTokens_ > 0) {
    if (numDecode_ > 0) beginOp("attention (prefill part)");
    if (cuda::prefillKernelSupports(a.headDim, group)) {
      buildPrefillTiles(group);
      cuda::launchPagedPrefill(args, static_cast<const int32_t*>(tilesDevice_.ptr), numTiles_, stream_);
    } else {
      cuda::launchPagedFallback(args, prefillTokens_, numPrefillTokens_, stream_);
    }
  }
}

// --- graphs ------------------------------------------------------------------------------------

bool CudaBackend::replayGraph(int key) {
  if (!options_.graphs) return false;
  auto it = graphs_.find(key);
  if (it == graphs_.end() || !it->second.exec || it->second.gen != gen_) return false;
  beginOp("graph replay");
  CUDA_CHECK(cudaGraphLaunch(it->second.exec, stream_));
  return true;
}

bool CudaBackend::beginGraphCapture(int key) {
  if (!options_.graphs) return false;
  GraphEntry& g = graphs_[key];
  if (g.warmGen != gen_) {  // first sight at this generation: run eagerly so every buffer gets sized
    g.warmGen = gen_;
    return false;
  }
  activate();
  if (g.exec) {
    CUDA_CHECK(cudaGraphExecDestroy(g.exec));
    g.exec = nullptr;
  }
  CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  capturing_ = true;
  return true;
}

void CudaBackend::endGraphCapture(int key, bool ok) {
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream_, &graph);
  if (!ok) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    return;
  }
  CUDA_CHECK(e);
  GraphEntry& g = graphs_[key];
  const cudaError_t ie = cudaGraphInstantiate(&g.exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(ie);
  g.gen = gen_;
}

void CudaBackend::invalidateGraphs() {
  gen_++;
  for (auto& [key, g] : graphs_)
    if (g.exec) {
      cudaGraphExecDestroy(g.exec);
      g.exec = nullptr;
    }
}

}  // namespace pagedinfer
