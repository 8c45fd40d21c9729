// Turns CUDA runtime errors into the typed errors of core/errors.h: allocation failures become
// OutOfMemoryError, everything else DeviceError with the call, the place and CUDA's message.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "../core/errors.h"

namespace pagedinfer {

inline void cudaCheck(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return;
  std::string where = std::string(what) + " (" + file + ":" + std::to_string(line) + ")";
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the device stays usable
    throw OutOfMemoryError("CUDA out of memory in " + where + ": " + cudaGetErrorString(e));
  }
  throw DeviceError("CUDA error in " + where + ": " + cudaGetErrorString(e));
}

// Kernels above 48 KB of dynamic shared memory must opt in, per device. Done once per device (a
// bit in `done`), so that it has happened before any graph records the kernel.
template <typename Kernel>
void allowDynamicSmem(Kernel kernel, size_t bytes, std::atomic<uint32_t>& done) {
  int device = 0;
  cudaCheck(cudaGetDevice(&device), "cudaGetDevice", __FILE__, __LINE__);
  const uint32_t bit = 1u << (device & 31);
  if (done.load() & bit) return;
  cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
            "cudaFuncSetAttribute", __FILE__, __LINE__);
  done.fetch_or(bit);
}

}  // namespace pagedinfer

#define CUDA_CHECK(expr) ::pagedinfer::cudaCheck((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors (and sticky errors of earlier kernels).
#define CUDA_CHECK_LAUNCH(name) ::pagedinfer::cudaCheck(cudaGetLastError(), name, __FILE__, __LINE__)
