// The CUDA backend: bf16 activations with float accumulation, float logits, weights on the device
// in their storage type (float32 matrices converted to bf16; Q8_0 repacked, see quant_device.cuh),
// a bf16 paged KV cache in the HND layout of rope_cache.cu, cuBLASLt (loaded at run time) for
// GEMMs and its own kernels for everything else. All work is enqueued on one non-blocking stream;
// decode-only steps are padded to bucket sizes and recorded as CUDA graphs (see beginStep). Steps
// overlap (Backend::overlapsSteps): sample() enqueues, finishSample() waits on another thread
// while the next step is enqueued, so what a step's finishSample reads has one copy per step.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include "../core/backend.h"
#include "../core/thread_pool.h"
#include "cublaslt_gemm.h"
#include "cublaslt_shim.h"
#include "kernels.h"
#include "op_profile.h"
#include "sampling.h"

namespace pagedinfer {

class CudaBackend : public Backend {
 public:
  struct Options {
    bool graphs = true;  // record decode steps as CUDA graphs
  };
  explicit CudaBackend(int device, Options options);
  explicit CudaBackend(int device) : CudaBackend(device, Options{}) {}
  ~CudaBackend() override;

  // What backendInfo reports, without creating a backend: never throws.
  struct DeviceInfo {
    bool available = false;
    std::string reason;  // why not, when !available
    int deviceCount = 0;
    std::string name;
    int major = 0, minor = 0, multiprocessors = 0;
    size_t totalMemory = 0;
    int driverVersion = 0, runtimeVersion = 0;
    std::string cublasLt;  // library opened, or why none
  };
  static DeviceInfo probe(int device);

  std::string name() const override { return "cuda"; }
  std::string describe() const override;
  DType activationType() const override { return DType::BF16; }
  void* alloc(size_t bytes) override;
  void release(void* p) override;
  size_t availableMemory() const override;
  DeviceCeilings measureCeilings() override;  // ceilings.cpp
  void upload(void* dst, const void* src, size_t bytes) override;
  void download(void* dst, const void* src, size_t bytes) override;

  Weight loadWeight(const HostTensor& t, bool asMatrix) override;
  Weight randomWeight(DType dtype, int64_t rows, int64_t cols, uint64_t seed, float offset, float scale) override;
  void releaseWeight(Weight& w) override;
  bool fusesProjections(DType matrixType) const override;
  void joinWeights(Weight* const* ws, int n) override;

  size_t kvCacheBytesPerBlock(const KvCacheShape& shape) const override;
  void allocKvCache(const KvCacheShape& shape) override;
  void releaseKvCache() override;
  void readKvSlot(int layer, int64_t slot, float* k, float* v) override;

  const StepView& beginStep(const StepView& host) override;
  void copyBlocks(const StepView& s) override;
  void embedding(Tensor out, const StepView& s, const Weight& table) override;
  void rmsnorm(Tensor out, Tensor x, const Weight& w, float eps) override;
  void addRmsnorm(Tensor out, Tensor residual, Tensor x, const Weight& w, float eps) override;
  void headRmsnorm(Tensor x, int numHeads, int headDim, const Weight& w, float eps) override;
  void matmul(Tensor out, Tensor x, const Weight& w, const Weight* bias) override;
  void matmulMany(int n, const Tensor* outs, Tensor x, const Weight* const* ws, const Weight* const* biases) override;
  void matmulSwiglu(Tensor out, Tensor x, const Weight& gate, const Weight& up, Tensor upScratch) override;
  bool fusesNorms(int64_t T, DType matrixType, const ProjectionWidths& widths) const override;
  void rmsnormMatmulMany(int n, const Tensor* outs, Tensor residual, const Weight& norm, float eps, const Weight* const* ws,
                         const Weight* const* biases) override;
  void rmsnormMatmulSwiglu(Tensor out, Tensor residual, const Weight& norm, float eps, const Weight& gate,
                           const Weight& up) override;
  void matmulIntoResidual(Tensor residual, Tensor x, const Weight& w) override;
  void ropeAndCacheWrite(Tensor q, Tensor k, Tensor v, const StepView& s, int layer, const RopeShape& rope) override;
  void pagedAttention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a) override;
  void ropeAttention(Tensor out, Tensor q, Tensor k, Tensor v, const StepView& s, int layer, const RopeShape& rope,
                     const AttentionShape& a) override;
  void swiglu(Tensor out, Tensor gate, Tensor up) override;
  void finalNorm(Tensor out, Tensor residual, Tensor x, const StepView& s, const Weight& w, float eps) override;
  void enqueueSample(Tensor logits, const StepView& s, const StepView& host, StepOutput& out) override;
  void finishSample(const StepView& host, StepOutput& out) override;
  bool overlapsSteps() const override { return true; }

  bool replayGraph(int key) override;
  bool beginGraphCapture(int key) override;
  void endGraphCapture(int key, bool ok) override;
  void invalidateGraphs() override;
  bool wantsWarmup() const override { return lt_ != nullptr; }

  // --- measurement and tuning (the kernel benchmark) ---------------------------------------------
  enum class GemmPath { Auto, Gemv, CublasLt };
  void setGemmPath(GemmPath path) { gemmPath_ = path; }
  // Fused decode projections (matmulMany, matmulSwiglu as one GEMV each); on by default.
  // Decode tokens' rope + cache write inside the decode attention kernel (ropeAttention); on by default.
  void setDecodeRopeFusion(bool on) {
    fuseDecodeRope_ = on;
    invalidateGraphs();
  }
  void setDecodeFusion(bool on) {
    fuseDecode_ = on;
    invalidateGraphs();
  }
  // Programmatic dependent launch of the decode chain (pdl.cuh); process-wide. Ignored (off)
  // below compute capability 9.0. Re-records graphs.
  void setProgrammaticLaunch(bool on);
  void setNormFusion(bool on) { fuseNorms_ = on; }  // fusesNorms at one token; on by default
  void setDecodePartition(int keys) { decodePartition_ = keys; }  // 0: automatic
  // attention_decode.cu's kVariants; -1 (the default): by the number of items (decodeVariantFor)
  void setDecodeVariant(int variant) { decodeVariant_ = variant; }
  int decodeVariant() const { return decodeVariant_; }
  void synchronize();
  // Random bf16 values in the whole KV cache (benchmarks must not time zeros).
  void fillKvCacheRandom(uint64_t seed);
  cudaStream_t stream() const { return stream_; }
  int multiprocessors() const { return multiprocessors_; }
  bool hasCublasLt() const { return lt_ != nullptr; }
  int sampleHostFallbacks() const { return sampleFallbacks_; }
  float lastSampleKernelMicros() const { return sampleKernelMicros_; }  // device time of the last finished sample
  void setSampleBufferTarget(int values) { sampleBufferTarget_ = values; }  // 0: default
  void setGreedySplit(bool on) { splitGreedy_ = on; }  // few greedy rows over several CTAs each; on by default
  // bf16 GEMM straight through cuBLASLt (out[T][N] = x[T][K] w[N][K]^T); false if no algorithm.
  bool cublasGemm(void* out, bool outF32, int64_t ldOut, const void* x, int64_t T, int64_t K, const void* w, int64_t N);

 private:
  // n joined bf16 weights into consecutive columns of one output buffer: one GEMM (gemm.cpp).
  bool joinedGemmFor(int n, const Tensor* outs, Tensor x, const Weight* const* ws) const;
  struct Buffer {  // device or pinned host memory that only grows
    void* ptr = nullptr;
    size_t bytes = 0;
  };
  struct GemmPlan {  // one cached cuBLASLt problem and its algorithm (gemm.cpp)
    GemmPlan(int64_t T, int64_t K, int64_t N, int64_t ldOut, bool outF32) : problem(T, K, N, ldOut, outF32) {}
    cublaslt::TnProblem problem;
    bool ok = false;  // the problem was made and an algorithm found
    cublaslt::MatmulAlgo algo{};
    bool borrowed = false;  // algo came from another size of its bucket
  };
  struct GraphEntry {
    cudaGraphExec_t exec = nullptr;
    uint64_t gen = 0, warmGen = ~0ull;
  };
  // One step's sampling from enqueueSample to finishSample. Two, used in turn: at most two steps
  // are in flight, and a step is submitted only after the one two before it has finished.
  struct SampleSlot {
    Buffer pinned;  // parameters up, results (token, logprob, status, top-n) down
    cudaEvent_t begin = nullptr, end = nullptr, done = nullptr;
    const float* logits = nullptr;  // this step's logits buffer (the host fallback reads rows of it)
    int rows = 0, vocab = 0, maxTopN = 0;
    bool sampled = false;
    size_t oResults = 0, oIds = 0, oLps = 0;
  };

  void activate() const;
  // activate() and, when profiling, an event before the op (op_profile.h).
  void beginOp(const char* label);
  // Grows a buffer the step's kernels read (invalidating recorded graphs); throws while capturing.
  void ensureDevice(Buffer& b, size_t bytes);
  // ensureDevice for arrival counters: a new buffer is zeroed (stream-ordered); kernels that use
  // the counters leave them at zero.
  void ensureZeroedDevice(Buffer& b, size_t bytes);
  // Resident decode-attention CTAs per SM for (head size, variant), asked of the runtime once.
  int decodeCtasPerSm(int headDim, int variant) const;
  void ensurePinned(Buffer& b, size_t bytes);
  void freeBuffers();
  void stagedUpload(void* dst, const uint8_t* src, size_t rowBytes, int64_t rows, int kind, int64_t cols);
  void uploadRopeTable(const RopeShape& rope);
  void buildPrefillTiles(int group);
  std::string profileKind(int bucket, int tokens) const;
  // pagedAttention; with rope.k set the decode kernel also rotates and caches its tokens (ropeAttention).
  void attention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a, const cuda::DecodeRope& rope);
  int decodeVariantFor(int items, int numKvHeads, int headDim) const;
  struct DecodeSplit {
    int parts = 1;      // the decode grid's partitions per (item, kv head)
    int partition = 0;  // keys per partition; 0: each item's own (launchPagedDecode)
  };
  DecodeSplit decodeSplitFor(int items, int maxCtx, int numKvHeads, int headDim, int variant) const;
  void matmulDequantized(Tensor out, Tensor x, const Weight& w);
  bool gemvFor(int64_t T, DType dtype) const;
  // The fused GEMV kernels apply: decode-sized T on the GEMV path, bf16/f16 weights, K % 8 == 0.
  bool denseGemvFor(int64_t T, const Weight& w) const;
  cuda::KvLayer kvLayer(int layer) const;

  int device_ = 0;
  Options options_;
  cudaStream_t stream_ = nullptr;
  std::string deviceName_;
  int multiprocessors_ = 0, ccMajor_ = 0, ccMinor_ = 0;

  // cuBLASLt
  void* lt_ = nullptr;  // cublaslt::Handle
  Buffer ltWorkspace_;
  std::map<std::string, std::unique_ptr<GemmPlan>> plans_;
  std::map<std::string, cublaslt::MatmulAlgo> algos_;  // heuristic's choice per power-of-two token bucket
  GemmPath gemmPath_ = GemmPath::Auto;
  bool fuseDecode_ = true, fuseDecodeRope_ = true, fuseNorms_ = true;
  bool fuseProjections_ = true;  // fusesProjections for bf16 models; PAGEDINFER_FUSE_PROJECTIONS=0 turns it off

  // weights
  std::set<const void*> ownedWeights_;
  std::set<void*> allocations_;
  Buffer dequantScratch_;  // bf16 rows of a quantized / f16 weight for the prefill GEMM
  Buffer stagePinned_[2], stageDevice_;
  cudaEvent_t stageEvents_[2] = {nullptr, nullptr};
  std::unique_ptr<ThreadPool> stageThreads_;  // copies mapped weights into the pinned buffers

  // KV cache: [layers][K, V][numBlocks][numKvHeads][blockSize][headDim] bf16
  KvCacheShape kv_;
  uint16_t* kvCache_ = nullptr;

  // the step
  Buffer stepDevice_, stepPinned_, tableDevice_, tablePinned_, tilesDevice_, tilesPinned_, partials_, arrivals_,
      ropeTable_;
  cudaEvent_t stepEvent_ = nullptr, tilesEvent_ = nullptr;
  StepView view_;
  int tableWidth_ = 0, tableRows_ = 0;
  int numDecode_ = 0, numPrefillTokens_ = 0, maxDecodeCtx_ = 0, numTiles_ = 0, tilesGroup_ = -1;
  bool graphStep_ = false;
  int32_t* decodeTokens_ = nullptr;
  int32_t* decodeSeqs_ = nullptr;      // per decode token: its sequence
  int32_t* decodeContexts_ = nullptr;  // and min(position + 1, seqLen)
  int32_t* prefillTokens_ = nullptr;
  std::vector<int32_t> hostQueryStart_;
  std::vector<float> ropeHost_;
  int decodePartition_ = 0, decodeVariant_ = -1;  // -1: decodeVariantFor's choice
  mutable std::map<std::pair<int, int>, int> decodeCtas_;  // decodeCtasPerSm's answers

  // sampling
  Buffer sampleDevice_, greedyScratch_;
  bool splitGreedy_ = true;
  SampleSlot sampleSlots_[2];
  int sampleTurn_ = 0;
  int sampleFallbacks_ = 0;
  float sampleKernelMicros_ = 0;
  int sampleBufferTarget_ = 0;
  // The sampled ids of the last step that sampled (-1 where the host redoes the row): what the
  // next step's chained tokens read (chained_tokens.cu).
  Buffer prevIds_;

  // graphs
  std::map<int, GraphEntry> graphs_;
  uint64_t gen_ = 1;
  bool capturing_ = false;

  std::unique_ptr<OpProfile> profile_;  // PAGEDINFER_OP_PROFILE
};

}  // namespace pagedinfer
