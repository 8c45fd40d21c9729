// One cuBLASLt problem in the form the CUDA backend states every GEMM: the row-major
// out[T][N] = x[T][K] W[N][K]^T, bf16 inputs, float accumulation, a bf16 or float output whose rows
// are ldOut elements apart, as cuBLASLt's column-major D[N][T] = W^T x ("TN"). The descriptors are
// made together and destroyed together; gemm.cpp caches them per shape, the kernel bench times
// every algorithm the heuristic offers for them.
#pragma once
#include <cstdint>

#include "cublaslt_shim.h"

namespace pagedinfer::cublaslt {

class TnProblem {
 public:
  TnProblem(int64_t T, int64_t K, int64_t N, int64_t ldOut, bool outF32);
  ~TnProblem();
  TnProblem(const TnProblem&) = delete;
  TnProblem& operator=(const TnProblem&) = delete;
  bool ok() const { return ok_; }
  // Up to `want` of the heuristic's algorithms for a workspace of `workspaceBytes`, best first;
  // returns how many it found (0 when it found none or failed).
  int candidates(Handle handle, uint64_t workspaceBytes, HeuristicResult* results, int want) const;
  // out = x W^T with `algo` (alpha 1, beta 0).
  Status run(Handle handle, const void* w, const void* x, void* out, const MatmulAlgo& algo, void* workspace,
             size_t workspaceBytes, cudaStream_t stream) const;

 private:
  MatmulDesc desc_ = nullptr;
  MatrixLayout a_ = nullptr, b_ = nullptr, d_ = nullptr;
  bool ok_ = false;
};

}  // namespace pagedinfer::cublaslt
