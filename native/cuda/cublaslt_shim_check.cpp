// Built only where the real cublasLt.h exists (the GPU machine): checks that the constants and
// struct layouts declared in cublaslt_shim.h are cuBLASLt's. A mismatch fails the build.
#include <cublasLt.h>

#include <cstddef>

#include "cublaslt_shim.h"

namespace c = pagedinfer::cublaslt;

static_assert(c::kSuccess == CUBLAS_STATUS_SUCCESS, "status");
static_assert(c::kComputeF32 == CUBLAS_COMPUTE_32F, "compute type");
static_assert(c::kDataF32 == CUDA_R_32F && c::kDataF16 == CUDA_R_16F && c::kDataBF16 == CUDA_R_16BF, "data types");
static_assert(c::kOpN == CUBLAS_OP_N && c::kOpT == CUBLAS_OP_T, "operations");
static_assert(c::kDescTransA == CUBLASLT_MATMUL_DESC_TRANSA && c::kDescTransB == CUBLASLT_MATMUL_DESC_TRANSB, "desc attrs");
static_assert(c::kPrefMaxWorkspace == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, "preference attr");
static_assert(sizeof(c::MatmulAlgo) == sizeof(cublasLtMatmulAlgo_t), "algo size");
static_assert(sizeof(c::HeuristicResult) == sizeof(cublasLtMatmulHeuristicResult_t), "heuristic result size");
static_assert(offsetof(c::HeuristicResult, workspaceSize) == offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize),
              "workspaceSize offset");
static_assert(offsetof(c::HeuristicResult, state) == offsetof(cublasLtMatmulHeuristicResult_t, state), "state offset");

int pagedinferCublasLtShimChecked() { return 1; }
