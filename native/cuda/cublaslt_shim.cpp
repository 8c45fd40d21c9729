#include "cublaslt_shim.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace pagedinfer::cublaslt {

namespace {

template <typename F>
bool resolve(void* lib, const char* name, F& fn, std::string& error) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) error = std::string("symbol ") + name + " missing";
  return fn != nullptr;
}

Api load() {
  Api a;
  std::vector<std::string> names;
  if (const char* env = std::getenv("PAGEDINFER_CUBLASLT")) names.push_back(env);
  for (const char* n : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so", "/usr/local/cuda/lib64/libcublasLt.so.13",
                        "/usr/local/cuda/lib64/libcublasLt.so.12"})
    names.push_back(n);
  void* lib = nullptr;
  std::string tried;
  for (const std::string& n : names) {
    lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      a.library = n;
      break;
    }
    tried += (tried.empty() ? "" : ", ") + n;
  }
  if (!lib) {
    a.error = "cuBLASLt not found (tried " + tried + "); install the CUDA toolkit's cuBLAS or set PAGEDINFER_CUBLASLT";
    return a;
  }
  std::string& e = a.error;
  bool ok = resolve(lib, "cublasLtGetVersion", a.getVersion, e) && resolve(lib, "cublasLtCreate", a.create, e) &&
            resolve(lib, "cublasLtDestroy", a.destroy, e) &&
            resolve(lib, "cublasLtMatmulDescCreate", a.matmulDescCreate, e) &&
            resolve(lib, "cublasLtMatmulDescDestroy", a.matmulDescDestroy, e) &&
            resolve(lib, "cublasLtMatmulDescSetAttribute", a.matmulDescSetAttribute, e) &&
            resolve(lib, "cublasLtMatrixLayoutCreate", a.matrixLayoutCreate, e) &&
            resolve(lib, "cublasLtMatrixLayoutDestroy", a.matrixLayoutDestroy, e) &&
            resolve(lib, "cublasLtMatmulPreferenceCreate", a.preferenceCreate, e) &&
            resolve(lib, "cublasLtMatmulPreferenceDestroy", a.preferenceDestroy, e) &&
            resolve(lib, "cublasLtMatmulPreferenceSetAttribute", a.preferenceSetAttribute, e) &&
            resolve(lib, "cublasLtMatmulAlgoGetHeuristic", a.algoGetHeuristic, e) &&
            resolve(lib, "cublasLtMatmul", a.matmul, e);
  if (!ok) {
    a.error = a.library + ": " + a.error;
    dlclose(lib);
    return a;
  }
  a.loaded = true;  // the handle stays open for the process's lifetime
  return a;
}

}  // namespace

const Api& api() {
  static Api instance = load();
  return instance;
}

}  // namespace pagedinfer::cublaslt
