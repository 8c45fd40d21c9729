// Median device time of a piece of stream work, from CUDA events: the backend's ceilings and the
// kernel benchmark time their runs with it. The caller warms up first.
#pragma once
#include <algorithm>
#include <vector>

#include <cuda_runtime_api.h>

#include "cuda_check.h"

namespace pagedinfer::cuda {

template <typename F>
double medianEventMillis(cudaStream_t stream, int reps, F&& run) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms;
  for (int i = 0; i < reps; i++) {
    CUDA_CHECK(cudaEventRecord(start, stream));
    run();
    CUDA_CHECK(cudaEventRecord(stop, stream));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace pagedinfer::cuda
