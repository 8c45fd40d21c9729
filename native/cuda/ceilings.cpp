// The GPU's measured ceilings for benchmark rooflines: a 1 GiB device-to-device copy (bytes read
// plus written) and an 8192^3 bf16 GEMM through cuBLASLt, each the median of several timed runs
// on random data (never zeros: they can run faster than real data).
#include "../core/errors.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "event_timing.h"
#include "kernels.h"

namespace pagedinfer {

namespace {

template <typename F>
double medianSeconds(cudaStream_t stream, int reps, F&& run) {
  run();  // warm-up
  return cuda::medianEventMillis(stream, reps, run) / 1000.0;
}

}  // namespace

DeviceCeilings CudaBackend::measureCeilings() {
  activate();
  DeviceCeilings c;
  const size_t bytes = size_t(1) << 30;
  void* src = alloc(bytes);
  void* dst = alloc(bytes);
  try {
    cuda::launchRandomWeight(src, DType::BF16, int64_t(bytes / 2), 1, 0, 1, stream_);
    double copy = medianSeconds(stream_, 10, [&] {
      CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    });
    c.copyBytesPerSecond = 2.0 * double(bytes) / copy;
  } catch (...) {
    release(src);
    release(dst);
    throw;
  }
  release(src);
  release(dst);

  const int64_t n = 8192;
  const size_t matBytes = size_t(n * n) * 2;
  void* a = alloc(matBytes);
  void* w = alloc(matBytes);
  void* out = alloc(matBytes);
  try {
    cuda::launchRandomWeight(a, DType::BF16, n * n, 2, 0, 1, stream_);
    cuda::launchRandomWeight(w, DType::BF16, n * n, 3, 0, 1, stream_);
    double gemm = medianSeconds(stream_, 10, [&] {
      if (!cublasGemm(out, false, n, a, n, n, w, n)) throw DeviceError("no cuBLASLt algorithm for an 8192^3 bf16 GEMM");
    });
    c.matmulFlopsPerSecond = 2.0 * double(n) * double(n) * double(n) / gemm;
    c.matmulShape = "bf16 8192x8192x8192 (cuBLASLt)";
  } catch (...) {
    release(a);
    release(w);
    release(out);
    throw;
  }
  release(a);
  release(w);
  release(out);
  return c;
}

}  // namespace pagedinfer
