#include "cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "../core/errors.h"
#include "../core/quant.h"
#include "../core/random.h"
#include "../core/random_blocks.h"
#include "simd_kernels.h"

namespace pagedinfer {

namespace {

constexpr size_t kAlign = 64;

void* alignedAlloc(size_t bytes) {
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded ? rounded : kAlign);
  if (!p) throw OutOfMemoryError("cannot allocate " + std::to_string(bytes) + " bytes of host memory");
  return p;
}

int defaultThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

}  // namespace

CpuBackend::CpuBackend(int numThreads)
    : pool_(std::make_unique<ThreadPool>(numThreads > 0 ? numThreads : defaultThreads())) {}

CpuBackend::~CpuBackend() {
  releaseKvCache();
  for (const void* p : owned_) std::free(const_cast<void*>(p));
}

const char* CpuBackend::simdLevel() {
  return simd::best().level;
}

std::string CpuBackend::describe() const {
  return "cpu: " + std::to_string(pool_->size()) + " threads, " + simdLevel();
}

void* CpuBackend::alloc(size_t bytes) { return alignedAlloc(bytes); }
void CpuBackend::release(void* p) { std::free(p); }
void CpuBackend::upload(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuBackend::download(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

size_t CpuBackend::availableMemory() const {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t value;
  std::string unit;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return size_t(4) << 30;  // unknown platform: assume 4 GiB
}

Weight CpuBackend::loadWeight(const HostTensor& t, bool asMatrix) {
  int64_t cols = t.shape.back();
  int64_t rows = t.shape.size() > 1 ? t.shape[0] : 1;
  if (!asMatrix) {
    // Norms and biases: small, used every token, so keep a float copy.
    float* f = static_cast<float*>(alignedAlloc(size_t(rows * cols) * sizeof(float)));
    dequantizeRow(t.dtype, t.data, f, rows * cols);
    std::lock_guard<std::mutex> lock(ownedMutex_);
    owned_.insert(f);
    return Weight{f, DType::F32, rows, cols};
  }
  size_t align = t.dtype == DType::F32 ? 4 : 2;
  if (reinterpret_cast<uintptr_t>(t.data) % align == 0) return Weight{t.data, t.dtype, rows, cols};
  // Misaligned in the file (possible in safetensors): one aligned copy.
  void* copy = alignedAlloc(t.bytes);
  std::memcpy(copy, t.data, t.bytes);
  std::lock_guard<std::mutex> lock(ownedMutex_);
  owned_.insert(copy);
  return Weight{copy, t.dtype, rows, cols};
}

Weight CpuBackend::randomWeight(DType dtype, int64_t rows, int64_t cols, uint64_t seed, float offset, float scale) {
  if (cols % dtypeBlockElems(dtype) != 0)
    throw InvalidArgumentError(std::string("dummy weights: ") + std::to_string(cols) + " columns do not fill whole " +
                               dtypeName(dtype) + " blocks");
  const int64_t rowBytes = dtypeRowBytes(dtype, cols);
  void* data = alignedAlloc(size_t(rows * rowBytes));
  pool_->parallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
    if (dtypeIsQuantized(dtype)) {
      const int64_t perRow = cols / dtypeBlockElems(dtype);
      fillRandomBlocks(dtype, static_cast<uint8_t*>(data) + r0 * rowBytes, r0 * perRow, (r1 - r0) * perRow, seed, scale);
      return;
    }
    for (int64_t r = r0; r < r1; r++) {
      for (int64_t c = 0; c < cols; c++) {
        int64_t i = r * cols + c;
        float value = offset + scale * float(2.0 * uniform01(seed, uint64_t(i)) - 1.0);
        if (dtype == DType::F32) static_cast<float*>(data)[i] = value;
        else if (dtype == DType::F16) static_cast<uint16_t*>(data)[i] = floatToF16(value);
        else static_cast<uint16_t*>(data)[i] = floatToBf16(value);
      }
    }
  });
  std::lock_guard<std::mutex> lock(ownedMutex_);
  owned_.insert(data);
  return Weight{data, dtype, rows, cols};
}

void CpuBackend::releaseWeight(Weight& w) {
  std::lock_guard<std::mutex> lock(ownedMutex_);
  auto it = owned_.find(w.data);
  if (it != owned_.end()) {
    std::free(const_cast<void*>(*it));
    owned_.erase(it);
  }
  w = Weight{};
}

size_t CpuBackend::kvCacheBytesPerBlock(const KvCacheShape& s) const {
  return size_t(2) * s.numLayers * s.blockSize * s.numKvHeads * s.headDim * sizeof(float);
}

void CpuBackend::allocKvCache(const KvCacheShape& s) {
  releaseKvCache();
  kv_ = s;
  size_t perLayer = size_t(s.numBlocks) * s.blockSize * s.numKvHeads * s.headDim * sizeof(float);
  try {
    for (int l = 0; l < s.numLayers; l++) {
      kCache_.push_back(static_cast<float*>(alignedAlloc(perLayer)));
      vCache_.push_back(static_cast<float*>(alignedAlloc(perLayer)));
    }
  } catch (...) {
    releaseKvCache();
    throw;
  }
}

void CpuBackend::releaseKvCache() {
  for (float* p : kCache_) std::free(p);
  for (float* p : vCache_) std::free(p);
  kCache_.clear();
  vCache_.clear();
  kv_ = KvCacheShape{};
}

void CpuBackend::readKvSlot(int layer, int64_t slot, float* k, float* v) {
  const size_t n = size_t(kv_.numKvHeads) * kv_.headDim;
  std::memcpy(k, kCache_[layer] + slot * int64_t(n), n * sizeof(float));
  std::memcpy(v, vCache_[layer] + slot * int64_t(n), n * sizeof(float));
}

const StepView& CpuBackend::beginStep(const StepView& host) {
  step_ = host;
  tokenSeq_.resize(size_t(host.numTokens));
  for (int s = 0; s < host.numSeqs; s++)
    for (int t = host.queryStart[s]; t < host.queryStart[s + 1]; t++) tokenSeq_[t] = s;
  step_.tokenSeq = tokenSeq_.data();
  return step_;
}

}  // namespace pagedinfer
