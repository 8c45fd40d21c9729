// CudaBackend: device, stream and memory; weight upload; the KV cache. (Step arrays and graphs are
// in cuda_step.cpp, GEMM in gemm.cpp, the sampler's host side in cuda_sample.cpp.)
#include "cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "../core/errors.h"
#include "../core/quant.h"
#include "cublaslt_shim.h"
#include "cuda_check.h"
#include "kernels.h"

namespace pagedinfer {

namespace {

constexpr size_t kStageBytes = size_t(64) << 20;      // pinned staging buffer (two of them)
// Threads that copy a chunk of mapped weights into a staging buffer. One thread reads a
// page-cached file at ~5.5 GB/s (its page faults and copy), well below the DMA's ~55 GB/s: an 8B
// model took 3 s. On the H100 machine (16 cores) 12 threads reached 37 GB/s (docs/cuda-kernels.md).
constexpr unsigned kMaxStageThreads = 12;
constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLASLt workspace (Hopper wants 32 MB)

}  // namespace

CudaBackend::DeviceInfo CudaBackend::probe(int device) {
  DeviceInfo info;
  cudaRuntimeGetVersion(&info.runtimeVersion);
  const cublaslt::Api& lt = cublaslt::api();
  info.cublasLt = lt.loaded ? lt.library : lt.error;
  cudaError_t e = cudaGetDeviceCount(&info.deviceCount);
  if (e != cudaSuccess) {
    info.reason = std::string("no usable CUDA device: ") + cudaGetErrorString(e);
    cudaGetLastError();
    return info;
  }
  if (device < 0 || device >= info.deviceCount) {
    info.reason = "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(info.deviceCount) + " found)";
    return info;
  }
  cudaDeviceProp prop;
  e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) {
    info.reason = std::string("cannot query CUDA device: ") + cudaGetErrorString(e);
    return info;
  }
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.totalMemory = prop.totalGlobalMem;
  cudaDriverGetVersion(&info.driverVersion);
  if (prop.major < 8) {
    info.reason = std::string(prop.name) + " is compute capability " + std::to_string(prop.major) + "." +
                  std::to_string(prop.minor) + "; the CUDA backend needs 8.0 (Ampere) or newer";
    return info;
  }
  info.available = true;
  return info;
}

CudaBackend::CudaBackend(int device, Options options) : device_(device), options_(options) {
  DeviceInfo info = probe(device);
  if (!info.available) throw DeviceError(info.reason);
  deviceName_ = info.name;
  multiprocessors_ = info.multiprocessors;
  ccMajor_ = info.major;
  ccMinor_ = info.minor;
  activate();
  // Chained launches need Hopper's griddepcontrol; PAGEDINFER_CUDA_PDL=0 turns them off.
  const char* pdl = std::getenv("PAGEDINFER_CUDA_PDL");
  cuda::programmaticLaunchFlag() = ccMajor_ >= 9 && !(pdl && std::strcmp(pdl, "0") == 0);
  const char* fuse = std::getenv("PAGEDINFER_FUSE_PROJECTIONS");
  fuseProjections_ = !(fuse && std::strcmp(fuse, "0") == 0);
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&stepEvent_, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&tilesEvent_, cudaEventDisableTiming));
  profile_ = OpProfile::fromEnv();
  for (cudaEvent_t& e : stageEvents_) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  for (SampleSlot& slot : sampleSlots_) {
    CUDA_CHECK(cudaEventCreate(&slot.begin));
    CUDA_CHECK(cudaEventCreate(&slot.end));
    CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
  }
  const cublaslt::Api& lt = cublaslt::api();
  if (lt.loaded) {
    cublaslt::Handle h = nullptr;
    if (lt.create(&h) == cublaslt::kSuccess) {
      lt_ = h;
      ensureDevice(ltWorkspace_, kWorkspaceBytes);
    }
  }
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  for (auto& [key, g] : graphs_)
    if (g.exec) cudaGraphExecDestroy(g.exec);
  plans_.clear();
  if (lt_) cublaslt::api().destroy(static_cast<cublaslt::Handle>(lt_));
  releaseKvCache();
  for (const void* p : ownedWeights_) cudaFree(const_cast<void*>(p));
  for (void* p : allocations_) cudaFree(p);
  freeBuffers();
  for (cudaEvent_t e : stageEvents_)
    if (e) cudaEventDestroy(e);
  for (SampleSlot& slot : sampleSlots_)
    for (cudaEvent_t e : {slot.begin, slot.end, slot.done})
      if (e) cudaEventDestroy(e);
  if (stepEvent_) cudaEventDestroy(stepEvent_);
  if (tilesEvent_) cudaEventDestroy(tilesEvent_);
  profile_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::freeBuffers() {
  for (Buffer* b : {&ltWorkspace_, &dequantScratch_, &stageDevice_, &stepDevice_, &tableDevice_, &tilesDevice_, &partials_, &arrivals_,
                    &ropeTable_, &sampleDevice_, &greedyScratch_, &prevIds_})
    if (b->ptr) cudaFree(b->ptr), *b = Buffer{};
  for (Buffer* b : {&stagePinned_[0], &stagePinned_[1], &stepPinned_, &tablePinned_, &tilesPinned_,
                    &sampleSlots_[0].pinned, &sampleSlots_[1].pinned})
    if (b->ptr) cudaFreeHost(b->ptr), *b = Buffer{};
}

void CudaBackend::activate() const { CUDA_CHECK(cudaSetDevice(device_)); }

void CudaBackend::beginOp(const char* label) {
  activate();
  if (profile_ && !capturing_) profile_->mark(stream_, label);
}

void CudaBackend::setProgrammaticLaunch(bool on) {
  cuda::programmaticLaunchFlag() = on && ccMajor_ >= 9;
  invalidateGraphs();  // recorded launches keep the attribute they were captured with
}

void CudaBackend::ensureDevice(Buffer& b, size_t bytes) {
  if (bytes <= b.bytes) return;
  if (capturing_) throw DeviceError("internal: a device buffer had to grow while a CUDA graph was being recorded");
  const size_t grown = std::max(bytes, b.bytes + b.bytes / 2);
  if (b.ptr) {
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // kernels in flight may still read it
    CUDA_CHECK(cudaFree(b.ptr));
    b = Buffer{};
  }
  CUDA_CHECK(cudaMalloc(&b.ptr, grown));
  b.bytes = grown;
  invalidateGraphs();
}

void CudaBackend::ensureZeroedDevice(Buffer& b, size_t bytes) {
  if (bytes <= b.bytes) return;
  ensureDevice(b, bytes);
  CUDA_CHECK(cudaMemsetAsync(b.ptr, 0, b.bytes, stream_));
}

void CudaBackend::ensurePinned(Buffer& b, size_t bytes) {
  if (bytes <= b.bytes) return;
  const size_t grown = std::max(bytes, b.bytes + b.bytes / 2);
  if (b.ptr) {
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    CUDA_CHECK(cudaFreeHost(b.ptr));
    b = Buffer{};
  }
  CUDA_CHECK(cudaHostAlloc(&b.ptr, grown, cudaHostAllocDefault));
  b.bytes = grown;
}

std::string CudaBackend::describe() const {
  const cublaslt::Api& lt = cublaslt::api();
  return "cuda: " + deviceName_ + " (sm_" + std::to_string(ccMajor_) + std::to_string(ccMinor_) + ", " +
         std::to_string(multiprocessors_) + " SMs), " +
         (lt_ ? "cuBLASLt " + std::to_string(lt.getVersion()) : "no cuBLASLt (" + lt.error + "): slow GEMM fallback") +
         (options_.graphs ? ", decode graphs" : ", no graphs");
}

void CudaBackend::synchronize() {
  activate();
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// --- memory ------------------------------------------------------------------------------------

void* CudaBackend::alloc(size_t bytes) {
  activate();
  if (capturing_) throw DeviceError("internal: allocation while a CUDA graph was being recorded");
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  allocations_.insert(p);
  return p;
}

void CudaBackend::release(void* p) {
  if (!p) return;
  activate();
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  allocations_.erase(p);
  CUDA_CHECK(cudaFree(p));
}

size_t CudaBackend::availableMemory() const {
  activate();
  size_t freeBytes = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&freeBytes, &total));
  return freeBytes;
}

void CudaBackend::upload(void* dst, const void* src, size_t bytes) {
  activate();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::download(void* dst, const void* src, size_t bytes) {
  activate();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// --- weights -----------------------------------------------------------------------------------

namespace {
enum StageKind { kCopy = 0, kF32ToBf16 = 1, kRepackQ8 = 2 };
}

// Copies `rows` rows of `rowBytes` from (memory-mapped) host memory to dst through two pinned
// buffers, so the host copy of one chunk overlaps the DMA of the other. Converting kinds land in a
// device scratch first and a kernel writes dst.
void CudaBackend::stagedUpload(void* dst, const uint8_t* src, size_t rowBytes, int64_t rows, int kind, int64_t cols) {
  const int64_t rowsPerChunk = std::max<int64_t>(1, int64_t(kStageBytes / rowBytes));
  const size_t chunkBytes = size_t(std::min(rowsPerChunk, rows)) * rowBytes;
  for (Buffer& b : stagePinned_) ensurePinned(b, chunkBytes);
  if (!stageThreads_)
    stageThreads_ = std::make_unique<ThreadPool>(int(std::clamp(std::thread::hardware_concurrency(), 1u, kMaxStageThreads)));
  if (kind != kCopy) ensureDevice(stageDevice_, chunkBytes);
  int which = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += rowsPerChunk, which ^= 1) {
    const int64_t n = std::min(rowsPerChunk, rows - r0);
    const size_t bytes = size_t(n) * rowBytes;
    CUDA_CHECK(cudaEventSynchronize(stageEvents_[which]));  // this pinned buffer's last DMA is done
    uint8_t* pinned = static_cast<uint8_t*>(stagePinned_[which].ptr);
    const uint8_t* from = src + size_t(r0) * rowBytes;
    // One piece per thread, in 64 KB multiples (the pages the kernel maps per fault).
    const int64_t piece = int64_t((bytes / size_t(stageThreads_->size()) + 65535) / 65536 * 65536);
    stageThreads_->parallelFor(int64_t(bytes), piece, [&](int64_t b, int64_t e) {
      std::memcpy(pinned + b, from + b, size_t(e - b));
    });
    if (kind == kCopy) {
      CUDA_CHECK(cudaMemcpyAsync(static_cast<uint8_t*>(dst) + size_t(r0) * rowBytes, stagePinned_[which].ptr, bytes,
                                 cudaMemcpyHostToDevice, stream_));
    } else {
      CUDA_CHECK(cudaMemcpyAsync(stageDevice_.ptr, stagePinned_[which].ptr, bytes, cudaMemcpyHostToDevice, stream_));
      if (kind == kF32ToBf16)
        cuda::launchConvertF32ToBf16(static_cast<const float*>(stageDevice_.ptr), static_cast<uint16_t*>(dst) + r0 * cols,
                                     n * cols, stream_);
      else
        cuda::launchRepackQ8_0(static_cast<const uint8_t*>(stageDevice_.ptr),
                               static_cast<uint8_t*>(dst) + size_t(r0) * rowBytes, n, cols, stream_);
    }
    CUDA_CHECK(cudaEventRecord(stageEvents_[which], stream_));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Weight CudaBackend::loadWeight(const HostTensor& t, bool asMatrix) {
  activate();
  const int64_t cols = t.shape.back();
  const int64_t rows = t.shape.size() > 1 ? t.shape[0] : 1;
  const uint8_t* src = static_cast<const uint8_t*>(t.data);
  void* dst = nullptr;
  if (!asMatrix) {  // norms and biases: small and read as float by the kernels
    std::vector<float> f(size_t(rows * cols));
    dequantizeRow(t.dtype, src, f.data(), rows * cols);
    CUDA_CHECK(cudaMalloc(&dst, f.size() * sizeof(float)));
    ownedWeights_.insert(dst);
    upload(dst, f.data(), f.size() * sizeof(float));
    return Weight{dst, DType::F32, rows, cols};
  }
  const size_t rowBytes = size_t(dtypeRowBytes(t.dtype, cols));
  const DType stored = t.dtype == DType::F32 ? DType::BF16 : t.dtype;
  CUDA_CHECK(cudaMalloc(&dst, size_t(rows) * size_t(dtypeRowBytes(stored, cols))));
  ownedWeights_.insert(dst);
  try {
    const int kind = t.dtype == DType::F32 ? kF32ToBf16 : t.dtype == DType::Q8_0 ? kRepackQ8 : kCopy;
    stagedUpload(dst, src, rowBytes, rows, kind, cols);
    if (stored != DType::BF16 && cols % 32 == 0)  // the prefill GEMM dequantizes row chunks into bf16
      ensureDevice(dequantScratch_, size_t(std::min(rows, cuda::dequantChunkRows(cols))) * size_t(cols) * 2);
  } catch (...) {
    ownedWeights_.erase(dst);
    cudaFree(dst);
    throw;
  }
  return Weight{dst, stored, rows, cols};
}

Weight CudaBackend::randomWeight(DType dtype, int64_t rows, int64_t cols, uint64_t seed, float offset, float scale) {
  activate();
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    throw InvalidArgumentError(std::string("dummy weights of type ") + dtypeName(dtype) + " are not supported");
  // Vectors (norms, biases) stay float; float32 matrices are stored as bf16, like uploaded ones.
  const DType stored = dtype == DType::F32 && rows > 1 ? DType::BF16 : dtype;
  void* dst = nullptr;
  CUDA_CHECK(cudaMalloc(&dst, size_t(rows * cols) * (stored == DType::F32 ? 4 : 2)));
  ownedWeights_.insert(dst);
  cuda::launchRandomWeight(dst, stored, rows * cols, seed, offset, scale, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return Weight{dst, stored, rows, cols};
}

void CudaBackend::releaseWeight(Weight& w) {
  auto it = ownedWeights_.find(w.data);
  if (it != ownedWeights_.end()) {
    activate();
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    CUDA_CHECK(cudaFree(const_cast<void*>(*it)));
    ownedWeights_.erase(it);
    invalidateGraphs();
  }
  w = Weight{};
}

// bf16 matrices go to cuBLASLt above the GEMV sizes: there one GEMM per group of projections
// (matmulMany, matmulSwiglu) replaces two or three. Other types dequantize row chunks per weight.
// Joining is best effort: a group that finds no room for the joined copy stays apart, and the
// ops run it as separate GEMMs into the same strided outputs.
bool CudaBackend::fusesProjections(DType matrixType) const { return fuseProjections_ && lt_ && matrixType == DType::BF16; }

void CudaBackend::joinWeights(Weight* const* ws, int n) {
  if (n < 2) return;
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    const Weight& w = *ws[i];
    if (w.dtype != ws[0]->dtype || w.cols != ws[0]->cols || !ownedWeights_.count(w.data))
      throw InvalidArgumentError("internal: joinWeights takes weights of one type and width that this backend made");
    total += w.bytes();
  }
  activate();
  void* joined = nullptr;
  if (cudaMalloc(&joined, total) != cudaSuccess) {  // no room for a second copy: the group stays apart
    cudaGetLastError();
    return;
  }
  ownedWeights_.insert(joined);
  size_t offset = 0;
  for (int i = 0; i < n; i++) {
    CUDA_CHECK(cudaMemcpyAsync(static_cast<uint8_t*>(joined) + offset, ws[i]->data, ws[i]->bytes(), cudaMemcpyDeviceToDevice,
                               stream_));
    offset += ws[i]->bytes();
  }
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  offset = 0;
  for (int i = 0; i < n; i++) {
    CUDA_CHECK(cudaFree(const_cast<void*>(ws[i]->data)));
    ownedWeights_.erase(ws[i]->data);
    ws[i]->data = static_cast<uint8_t*>(joined) + offset;
    offset += ws[i]->bytes();
  }
  invalidateGraphs();
}

// --- KV cache ----------------------------------------------------------------------------------

size_t CudaBackend::kvCacheBytesPerBlock(const KvCacheShape& s) const {
  return size_t(2) * s.numLayers * s.blockSize * s.numKvHeads * s.headDim * sizeof(uint16_t);
}

void CudaBackend::allocKvCache(const KvCacheShape& s) {
  activate();
  releaseKvCache();
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, kvCacheBytesPerBlock(s) * size_t(s.numBlocks)));
  kvCache_ = static_cast<uint16_t*>(p);
  kv_ = s;
  invalidateGraphs();
}

void CudaBackend::releaseKvCache() {
  if (kvCache_) {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    cudaFree(kvCache_);
    kvCache_ = nullptr;
    invalidateGraphs();
  }
  kv_ = KvCacheShape{};
}

void CudaBackend::fillKvCacheRandom(uint64_t seed) {
  activate();
  if (!kvCache_) return;
  cuda::launchRandomWeight(kvCache_, DType::BF16, int64_t(kvCacheBytesPerBlock(kv_) / 2) * kv_.numBlocks, seed, 0.0f, 1.0f,
                           stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

cuda::KvLayer CudaBackend::kvLayer(int layer) const {
  if (!kvCache_ || layer < 0 || layer >= kv_.numLayers)
    throw InvalidArgumentError("KV cache: layer " + std::to_string(layer) + " does not exist (is the cache allocated?)");
  const size_t half = size_t(kv_.numBlocks) * kv_.blockSize * kv_.numKvHeads * kv_.headDim;
  cuda::KvLayer l;
  l.k = kvCache_ + size_t(2 * layer) * half;
  l.v = l.k + half;
  l.blockSize = kv_.blockSize;
  l.numKvHeads = kv_.numKvHeads;
  l.headDim = kv_.headDim;
  return l;
}

void CudaBackend::readKvSlot(int layer, int64_t slot, float* k, float* v) {
  activate();
  const cuda::KvLayer l = kvLayer(layer);
  const int64_t block = slot / l.blockSize, offset = slot % l.blockSize, D = l.headDim;
  std::vector<uint16_t> buf(size_t(2 * l.numKvHeads * D));
  const size_t pitch = size_t(l.blockSize * D) * 2;  // one kv head to the next, within a block
  for (int which = 0; which < 2; which++) {
    const uint16_t* base = (which ? l.v : l.k) + ((block * l.numKvHeads) * l.blockSize + offset) * D;
    CUDA_CHECK(cudaMemcpy2DAsync(buf.data() + which * l.numKvHeads * D, size_t(D) * 2, base, pitch, size_t(D) * 2,
                                 size_t(l.numKvHeads), cudaMemcpyDeviceToHost, stream_));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (int64_t i = 0; i < l.numKvHeads * D; i++) {
    k[i] = bf16ToFloat(buf[size_t(i)]);
    v[i] = bf16ToFloat(buf[size_t(l.numKvHeads * D + i)]);
  }
}

}  // namespace pagedinfer
