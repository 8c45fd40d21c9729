#include "cublaslt_gemm.h"

namespace pagedinfer::cublaslt {

TnProblem::TnProblem(int64_t T, int64_t K, int64_t N, int64_t ldOut, bool outF32) {
  const Api& lt = api();
  const int transA = kOpT, transB = kOpN;
  ok_ = lt.matmulDescCreate(&desc_, kComputeF32, kDataF32) == kSuccess &&
        lt.matmulDescSetAttribute(desc_, kDescTransA, &transA, sizeof(transA)) == kSuccess &&
        lt.matmulDescSetAttribute(desc_, kDescTransB, &transB, sizeof(transB)) == kSuccess &&
        lt.matrixLayoutCreate(&a_, kDataBF16, uint64_t(K), uint64_t(N), K) == kSuccess &&
        lt.matrixLayoutCreate(&b_, kDataBF16, uint64_t(K), uint64_t(T), K) == kSuccess &&
        lt.matrixLayoutCreate(&d_, outF32 ? kDataF32 : kDataBF16, uint64_t(N), uint64_t(T), ldOut) == kSuccess;
}

TnProblem::~TnProblem() {
  const Api& lt = api();
  if (a_) lt.matrixLayoutDestroy(a_);
  if (b_) lt.matrixLayoutDestroy(b_);
  if (d_) lt.matrixLayoutDestroy(d_);
  if (desc_) lt.matmulDescDestroy(desc_);
}

int TnProblem::candidates(Handle handle, uint64_t workspaceBytes, HeuristicResult* results, int want) const {
  if (!ok_) return 0;
  const Api& lt = api();
  Preference pref = nullptr;
  int found = 0;
  const bool ok = lt.preferenceCreate(&pref) == kSuccess &&
                  lt.preferenceSetAttribute(pref, kPrefMaxWorkspace, &workspaceBytes, sizeof(workspaceBytes)) == kSuccess &&
                  lt.algoGetHeuristic(handle, desc_, a_, b_, d_, d_, pref, want, results, &found) == kSuccess;
  if (pref) lt.preferenceDestroy(pref);
  return ok ? found : 0;
}

Status TnProblem::run(Handle handle, const void* w, const void* x, void* out, const MatmulAlgo& algo, void* workspace,
                      size_t workspaceBytes, cudaStream_t stream) const {
  const float alpha = 1.0f, beta = 0.0f;
  return api().matmul(handle, desc_, &alpha, w, a_, x, b_, &beta, out, d_, out, d_, &algo, workspace, workspaceBytes, stream);
}

}  // namespace pagedinfer::cublaslt
