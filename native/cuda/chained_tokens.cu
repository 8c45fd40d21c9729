// Async scheduling (Backend::overlapsSteps): step N+1 is enqueued before step N's tokens reach the
// host. After sampling, step N's ids stay on the device (keepSampledTokens); step N+1's beginStep
// fills its placeholder tokens from them (gatherChainedTokens) after its upload and before its
// embedding. Stream order makes that correct without any host wait. Both are a thread per item:
// at most a few hundred, so one small launch each.
#include "cuda_check.h"
#include "kernels.h"
#include "sampling.h"

namespace pagedinfer::cuda {

namespace {

constexpr int kThreads = 128;

// A row the host will redo (status != 0) gets -1: the device's token for it is not the one the
// host returns, so a chained step must not use it as if it were.
__global__ void keepSampledTokensKernel(const SampleRowResult* __restrict__ results, int rows, int32_t* __restrict__ ids) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < rows) ids[r] = results[r].status == 0 ? results[r].token : -1;
}

// -1 becomes token 0: the embedding must read inside its table; the engine discards that row.
__global__ void gatherChainedTokensKernel(int32_t* __restrict__ tokenIds, const int32_t* __restrict__ pairs, int numPairs,
                                          const int32_t* __restrict__ ids) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= numPairs) return;
  const int32_t token = ids[pairs[2 * i + 1]];
  tokenIds[pairs[2 * i]] = token < 0 ? 0 : token;
}

}  // namespace

void launchKeepSampledTokens(const SampleRowResult* results, int rows, int32_t* ids, cudaStream_t stream) {
  if (rows <= 0) return;
  keepSampledTokensKernel<<<(rows + kThreads - 1) / kThreads, kThreads, 0, stream>>>(results, rows, ids);
  CUDA_CHECK_LAUNCH("keepSampledTokens");
}

void launchGatherChainedTokens(int32_t* tokenIds, const int32_t* pairs, int numPairs, const int32_t* ids,
                               cudaStream_t stream) {
  if (numPairs <= 0) return;
  gatherChainedTokensKernel<<<(numPairs + kThreads - 1) / kThreads, kThreads, 0, stream>>>(tokenIds, pairs, numPairs, ids);
  CUDA_CHECK_LAUNCH("gatherChainedTokens");
}

}  // namespace pagedinfer::cuda
