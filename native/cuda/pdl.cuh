// Programmatic dependent launch (PDL, compute capability 9.0+). A batch-1 decode step is ~260
// short kernels; between two of them the memory system idles while the next grid launches and
// its first loads travel. A kernel launched with launchChained() may be scheduled as soon as every
// block of its predecessor has executed pdlLaunchDependents(); it must call pdlWait() before it
// reads anything the predecessor (or anything earlier) wrote, and before it writes anything.
// Work that touches only constant data (a GEMV's weight rows) may go before the wait: that is
// what overlaps. pdlWait() returns once the predecessor has completed and its writes are
// visible; since every chained kernel waits, completion stays ordered down the stream.
// Without the launch attribute (PDL off, pre-Hopper) both instructions are no-ops.
#pragma once
#include <utility>

#include "cuda_check.h"
#include "cuda_common.cuh"
#include "kernels.h"

namespace pagedinfer::cuda {

__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Lets the next chained kernel be scheduled now; it still waits for this grid's completion.
// Called first thing: dependents only launch once all of this grid's blocks are resident, so
// they never take an SM slot this grid still needs.
__device__ __forceinline__ void pdlLaunchDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

template <typename... Params, typename... Args>
void launchChained(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = programmaticLaunchFlag().load(std::memory_order_relaxed) ? 1 : 0;
  cudaCheck(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), name, __FILE__, __LINE__);
}

}  // namespace pagedinfer::cuda
