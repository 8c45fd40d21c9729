// The few cuBLASLt entry points and constants the CUDA backend uses, declared here and resolved
// at run time with dlopen/dlsym (libcublasLt.so.13, .so.12, .so): the addon then builds on a
// machine with only the CUDA runtime and finds cuBLASLt on the user's machine, or reports that it
// is missing. Values are the ones of cublasLt.h / library_types.h; cublaslt_shim_check.cpp
// static_asserts them against the real header wherever that header exists.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

namespace pagedinfer::cublaslt {

using Status = int;  // cublasStatus_t; 0 is success
using Handle = struct Context*;
using MatmulDesc = struct MatmulDescOpaque*;
using MatrixLayout = struct MatrixLayoutOpaque*;
using Preference = struct PreferenceOpaque*;

struct MatmulAlgo {
  uint64_t data[8];
};
struct HeuristicResult {
  MatmulAlgo algo;
  size_t workspaceSize;
  Status state;
  float wavesCount;
  int reserved[4];
};

constexpr Status kSuccess = 0;
constexpr int kComputeF32 = 68;      // CUBLAS_COMPUTE_32F
constexpr int kDataF32 = 0;          // CUDA_R_32F
constexpr int kDataF16 = 2;          // CUDA_R_16F
constexpr int kDataBF16 = 14;        // CUDA_R_16BF
constexpr int kOpN = 0, kOpT = 1;    // cublasOperation_t
constexpr int kDescTransA = 3;       // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;       // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kPrefMaxWorkspace = 1; // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (uint64_t)

struct Api {
  bool loaded = false;
  std::string library;  // the file that was opened
  std::string error;    // why not, when !loaded
  size_t (*getVersion)() = nullptr;
  Status (*create)(Handle*) = nullptr;
  Status (*destroy)(Handle) = nullptr;
  Status (*matmulDescCreate)(MatmulDesc*, int computeType, int scaleType) = nullptr;
  Status (*matmulDescDestroy)(MatmulDesc) = nullptr;
  Status (*matmulDescSetAttribute)(MatmulDesc, int attr, const void* buf, size_t bytes) = nullptr;
  Status (*matrixLayoutCreate)(MatrixLayout*, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
  Status (*matrixLayoutDestroy)(MatrixLayout) = nullptr;
  Status (*preferenceCreate)(Preference*) = nullptr;
  Status (*preferenceDestroy)(Preference) = nullptr;
  Status (*preferenceSetAttribute)(Preference, int attr, const void* buf, size_t bytes) = nullptr;
  Status (*algoGetHeuristic)(Handle, MatmulDesc, MatrixLayout a, MatrixLayout b, MatrixLayout c, MatrixLayout d,
                             Preference, int requested, HeuristicResult* results, int* returned) = nullptr;
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* a, MatrixLayout, const void* b, MatrixLayout,
                   const void* beta, const void* c, MatrixLayout, void* d, MatrixLayout, const MatmulAlgo* algo,
                   void* workspace, size_t workspaceBytes, cudaStream_t stream) = nullptr;
};

// Loads the library once (thread-safe); never throws. `api().loaded` says whether it worked.
const Api& api();

}  // namespace pagedinfer::cublaslt
