// The CPU backend: float32 activations, weights used in place from the memory-mapped file in
// their storage type (converted or dequantized a row at a time inside the kernels), a float32
// paged KV cache laid out [slot][kvHead][headDim] per layer, and a thread pool over rows/heads.
#pragma once
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "../core/backend.h"
#include "../core/thread_pool.h"

namespace pagedinfer {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int numThreads);  // 0: one per core
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  std::string describe() const override;
  static const char* simdLevel();

  DType activationType() const override { return DType::F32; }
  void* alloc(size_t bytes) override;
  void release(void* p) override;
  size_t availableMemory() const override;
  DeviceCeilings measureCeilings() override;
  void upload(void* dst, const void* src, size_t bytes) override;
  void download(void* dst, const void* src, size_t bytes) override;

  Weight loadWeight(const HostTensor& t, bool asMatrix) override;
  Weight randomWeight(DType dtype, int64_t rows, int64_t cols, uint64_t seed, float offset, float scale) override;
  void releaseWeight(Weight& w) override;

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
  void ropeAndCacheWrite(Tensor q, Tensor k, Tensor v, const StepView& s, int layer, const RopeShape& rope) override;
  void pagedAttention(Tensor out, Tensor q, const StepView& s, int layer, const AttentionShape& a) override;
  void swiglu(Tensor out, Tensor gate, Tensor up) override;
  void finalNorm(Tensor out, Tensor residual, Tensor x, const StepView& s, const Weight& w, float eps) override;
  void enqueueSample(Tensor logits, const StepView& s, const StepView& host, StepOutput& out) override;

  ThreadPool& pool() { return *pool_; }
  // The cache of one layer: K (or V) of slot `slot`, kv head `h` is at base + (slot * heads + h) * headDim.
  float* kCache(int layer) { return kCache_[layer]; }
  float* vCache(int layer) { return vCache_[layer]; }
  const KvCacheShape& kvShape() const { return kv_; }

 private:
  std::unique_ptr<ThreadPool> pool_;
  std::mutex ownedMutex_;
  std::set<const void*> owned_;  // weight copies this backend allocated
  KvCacheShape kv_;
  std::vector<float*> kCache_, vCache_;
  StepView step_;
  std::vector<int32_t> tokenSeq_;
};

// Row-wise helpers shared by the kernel files.
void rmsnormRow(float* out, const float* x, const float* w, int n, float eps);

}  // namespace pagedinfer
