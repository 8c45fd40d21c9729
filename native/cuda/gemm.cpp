// matmul: out[T][N] = x[T][K] W[N][K]^T (+ bias). Up to kGemvMaxTokens tokens (decode) it is the
// GEMV kernels of gemv.cu, which read W once for all tokens and take every weight type. Above,
// bf16 weights go straight to cuBLASLt; other types (f16, quantized) are dequantized to bf16 a
// chunk of rows at a time into a scratch buffer and each chunk is one cuBLASLt GEMM writing its
// slice of out's columns. cuBLASLt sees the row-major problem as the column-major
// D[N][T] = W^T[N][K] x[K][T] ("TN"); descriptors and the heuristic's algorithm are cached per shape.
// matmulMany (q/k/v) and matmulSwiglu (gate/up + SwiGLU) are one GEMV launch each at decode sizes
// (gemv_dense.cu) and, above, one GEMM each where the model joined the group's weights
// (fusesProjections), separate GEMMs otherwise.
#include <algorithm>
#include <chrono>
#include <string>

#include "../core/errors.h"
#include "cublaslt_shim.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "kernels.h"

namespace pagedinfer {

namespace {
// The op profile's name for a GEMM of an N x K matrix (built only when profiling: every matmul of
// every step passes here).
std::string matmulLabel(const char* kind, int64_t n, int64_t k) {
  return std::string(kind) + " " + std::to_string(n) + "x" + std::to_string(k);
}
}  // namespace

// An algorithm chosen for a token count serves its power-of-two bucket: asking cuBLASLt's heuristic
// took 3.3 ms per new shape on the H100 (docs/benchmarks.md, op profile), and prefill and mixed steps
// bring a new token count almost every step (five shapes a step on a Llama layer stack). Timing
// the heuristic's top 8 candidates instead of taking its first changed W1 by 0.2% (noise), so it
// takes the first.
bool CudaBackend::cublasGemm(void* out, bool outF32, int64_t ldOut, const void* x, int64_t T, int64_t K, const void* w,
                             int64_t N) {
  if (!lt_) return false;
  const std::string shape = "x" + std::to_string(N) + "x" + std::to_string(K) + "/" + std::to_string(ldOut) + (outF32 ? "f" : "b");
  const std::string key = std::to_string(T) + shape;
  int64_t bucket = 1;
  while (bucket < T) bucket <<= 1;
  const std::string bucketKey = std::to_string(bucket) + shape;
  // Prefill token counts change every step: keep the cache bounded (a plan is cheap to rebuild).
  if (plans_.size() > 512 && !plans_.count(key)) plans_.clear();
  std::unique_ptr<GemmPlan>& slot = plans_[key];
  const cublaslt::Handle handle = static_cast<cublaslt::Handle>(lt_);
  auto run = [&](const GemmPlan& p) {
    return p.problem.run(handle, w, x, out, p.algo, ltWorkspace_.ptr, ltWorkspace_.bytes, stream_);
  };
  auto choose = [&](GemmPlan& p) {
    const auto t0 = std::chrono::steady_clock::now();
    cublaslt::HeuristicResult result{};
    const bool ok = p.problem.candidates(handle, ltWorkspace_.bytes, &result, 1) > 0;
    if (ok) p.algo = result.algo;
    if (profile_)
      profile_->addHostTime("cuBLASLt heuristic", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return ok;
  };
  if (!slot) {
    slot = std::make_unique<GemmPlan>(T, K, N, ldOut, outF32);
    GemmPlan& p = *slot;
    if (p.problem.ok()) {
      auto known = algos_.find(bucketKey);
      if (known != algos_.end()) {
        p.algo = known->second;
        p.borrowed = true;
        p.ok = true;
      } else {
        p.ok = choose(p);
        if (p.ok) algos_[bucketKey] = p.algo;
      }
    }
  }
  GemmPlan& p = *slot;
  if (!p.ok) return false;
  cublaslt::Status st = run(p);
  if (st != cublaslt::kSuccess && p.borrowed) {  // the bucket's algorithm does not fit this size: ask for it
    p.borrowed = false;
    if (!choose(p)) {
      p.ok = false;
      return false;
    }
    st = run(p);
  }
  if (st != cublaslt::kSuccess) throw DeviceError("cuBLASLt matmul failed (status " + std::to_string(st) + ") for " + key);
  return true;
}

void CudaBackend::matmul(Tensor out, Tensor x, const Weight& w, const Weight* bias) {
  beginOp(profile_ ? matmulLabel("matmul", w.rows, w.cols).c_str() : "matmul");
  const int64_t T = x.rows, K = x.cols, N = w.rows;
  if (x.dtype != DType::BF16 || (out.dtype != DType::BF16 && out.dtype != DType::F32))
    throw InvalidArgumentError("matmul: the CUDA backend takes bf16 inputs and bf16 or float outputs");
  if (!x.packed()) throw InvalidArgumentError("matmul: the CUDA backend reads packed input rows");
  if (w.cols != K || out.cols != N || out.rows != T)
    throw InvalidArgumentError("matmul: shapes do not match (x " + std::to_string(T) + "x" + std::to_string(K) + ", weight " +
                               std::to_string(N) + "x" + std::to_string(w.cols) + ", out " + std::to_string(out.rows) + "x" +
                               std::to_string(out.cols) + ")");
  if (T == 0) return;
  const bool outF32 = out.dtype == DType::F32;
  const int64_t ld = out.ld();  // a column view of a fused projection's output (fusesProjections)
  const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;
  if (!gemvFor(T, w.dtype)) {
    bool done = false;
    if (w.dtype == DType::BF16) {
      done = cublasGemm(out.data, outF32, ld, x.data, T, K, w.data, N);
    } else if (K % 32 == 0 && dequantScratch_.ptr) {
      matmulDequantized(out, x, w);
      done = true;
    }
    if (done) {
      if (b) cuda::launchAddBias(out.data, outF32, T, N, ld, b, stream_);
      return;
    }
  }
  // GEMV in groups of up to kGemvMaxTokens tokens (also the fallback without cuBLASLt).
  const size_t outElem = outF32 ? 4 : 2;
  for (int64_t t0 = 0; t0 < T; t0 += cuda::kGemvMaxTokens) {
    const int n = int(std::min<int64_t>(cuda::kGemvMaxTokens, T - t0));
    cuda::launchGemv(static_cast<uint8_t*>(out.data) + size_t(t0 * ld) * outElem, outF32, ld,
                     static_cast<const uint16_t*>(x.data) + t0 * K, n, K, w.data, w.dtype, N, b, stream_);
  }
}

// Measured on the H100 (docs/cuda-kernels.md): the custom GEMV wins at one token; cuBLASLt wins
// for bf16 from two tokens on. Other types have no cuBLASLt path below the dequantizing GEMM.
bool CudaBackend::gemvFor(int64_t T, DType dtype) const {
  const bool autoGemv = T == 1 || (T <= cuda::kGemvMaxTokens && dtype != DType::BF16);
  return gemmPath_ == GemmPath::Gemv || (gemmPath_ == GemmPath::Auto && autoGemv) || !lt_;
}

bool CudaBackend::denseGemvFor(int64_t T, const Weight& w) const {
  return fuseDecode_ && T > 0 && T <= cuda::kGemvMaxTokens && (w.dtype == DType::BF16 || w.dtype == DType::F16) &&
         w.cols % 8 == 0 && gemvFor(T, w.dtype);
}

namespace {
// The projections of one input as the dense GEMV's segments, each writing its own output.
cuda::GemvSegments gemvSegments(int n, const Tensor* outs, const Weight* const* ws, const Weight* const* biases) {
  cuda::GemvSegments segs;
  for (int i = 0; i < n; i++)
    segs.s[i] = cuda::GemvSegment{ws[i]->data, outs[i].data, biases[i] ? static_cast<const float*>(biases[i]->data) : nullptr,
                                  ws[i]->rows, outs[i].ld()};
  segs.count = n;
  return segs;
}
}  // namespace

// Whether n bf16 weights are consecutive rows of one allocation (joinWeights) and their outputs
// consecutive columns of one buffer of exactly their width: then one GEMM makes all of them.
bool CudaBackend::joinedGemmFor(int n, const Tensor* outs, Tensor x, const Weight* const* ws) const {
  if (n < 2 || !lt_ || gemvFor(x.rows, DType::BF16) || x.dtype != DType::BF16 || !x.packed()) return false;
  int64_t width = 0;
  for (int i = 0; i < n; i++) {
    const Weight& w = *ws[i];
    const Tensor& o = outs[i];
    if (w.dtype != DType::BF16 || w.cols != x.cols || o.dtype != outs[0].dtype || o.rows != x.rows || o.cols != w.rows)
      return false;
    const size_t elem = o.dtype == DType::F32 ? 4 : 2;
    if (i > 0 && (w.data != static_cast<const uint8_t*>(ws[i - 1]->data) + size_t(ws[i - 1]->rows * w.cols) * 2 ||
                  o.data != static_cast<const uint8_t*>(outs[i - 1].data) + size_t(outs[i - 1].cols) * elem))
      return false;
    width += w.rows;
  }
  for (int i = 0; i < n; i++)
    if (outs[i].ld() != width) return false;
  return true;
}

// q, k and v as one GEMV launch (segments of rows, each to its own output) when every weight takes
// the dense GEMV; as one GEMM when they are joined (fusesProjections); otherwise one matmul each.
void CudaBackend::matmulMany(int n, const Tensor* outs, Tensor x, const Weight* const* ws, const Weight* const* biases) {
  bool fused = n >= 1 && n <= cuda::kGemvMaxSegments && x.dtype == DType::BF16;
  for (int i = 0; fused && i < n; i++)
    fused = denseGemvFor(x.rows, *ws[i]) && ws[i]->dtype == ws[0]->dtype && ws[i]->cols == x.cols &&
            outs[i].rows == x.rows && outs[i].cols == ws[i]->rows && outs[i].dtype == outs[0].dtype &&
            (outs[i].dtype == DType::BF16 || outs[i].dtype == DType::F32);
  if (!fused && joinedGemmFor(n, outs, x, ws)) {
    const bool outF32 = outs[0].dtype == DType::F32;
    const int64_t width = outs[0].ld();
    beginOp(profile_ ? matmulLabel("matmul joined", width, x.cols).c_str() : "matmul");
    if (cublasGemm(outs[0].data, outF32, width, x.data, x.rows, x.cols, ws[0]->data, width)) {
      for (int i = 0; i < n; i++)
        if (biases[i])
          cuda::launchAddBias(outs[i].data, outF32, x.rows, outs[i].cols, width, static_cast<const float*>(biases[i]->data),
                              stream_);
      return;
    }
  }
  if (!fused) {
    Backend::matmulMany(n, outs, x, ws, biases);
    return;
  }
  beginOp("gemv q/k/v (fused)");
  cuda::launchGemvDense(gemvSegments(n, outs, ws, biases), outs[0].dtype == DType::F32, static_cast<const uint16_t*>(x.data), int(x.rows), x.cols,
                        ws[0]->dtype, stream_);
}

// gate, up and SwiGLU as one GEMV launch at decode sizes; with joined weights (fusesProjections)
// one GEMM into the scratch's two halves and swiglu over them; otherwise the two matmuls and swiglu.
void CudaBackend::matmulSwiglu(Tensor out, Tensor x, const Weight& gate, const Weight& up, Tensor upScratch) {
  const bool fused = x.dtype == DType::BF16 && out.dtype == DType::BF16 && denseGemvFor(x.rows, gate) &&
                     up.dtype == gate.dtype && up.rows == gate.rows && gate.cols == x.cols && up.cols == x.cols &&
                     out.rows == x.rows && out.cols == gate.rows;
  // A scratch with room for both products (the model's layout with fused projections).
  const bool wide = upScratch.cols == 2 * gate.rows && upScratch.packed() && upScratch.rows == x.rows &&
                    upScratch.dtype == DType::BF16;
  if (!fused && wide && out.dtype == DType::BF16 && out.packed() && out.rows == x.rows && out.cols == gate.rows) {
    const Tensor halves[2] = {upScratch.columns(0, gate.rows), upScratch.columns(gate.rows, gate.rows)};
    const Weight* ws[2] = {&gate, &up};
    if (joinedGemmFor(2, halves, x, ws)) {
      const int64_t width = 2 * gate.rows;
      beginOp(profile_ ? matmulLabel("matmul joined", width, x.cols).c_str() : "matmul");
      if (cublasGemm(upScratch.data, false, width, x.data, x.rows, x.cols, gate.data, width)) {
        beginOp("swiglu");
        const uint16_t* products = static_cast<const uint16_t*>(upScratch.data);
        cuda::launchSwiglu(static_cast<uint16_t*>(out.data), products, products + gate.rows, x.rows, gate.rows, width,
                           stream_);
        return;
      }
    }
  }
  if (!fused) {
    // The products apart: the up product in the scratch's first columns, packed.
    Backend::matmulSwiglu(out, x, gate, up, Tensor{upScratch.data, upScratch.dtype, out.rows, out.cols});
    return;
  }
  beginOp("gemv gate/up + swiglu (fused)");
  cuda::launchGemvSwiglu(static_cast<uint16_t*>(out.data), out.cols, static_cast<const uint16_t*>(x.data), int(x.rows),
                         x.cols, gate.data, up.data, gate.dtype, gate.rows, stream_);
}

// One decode token on bf16 / f16 matrices: the layer's norms ride in the GEMVs (gemv_dense.cu's
// NormedX and ACCUM), two kernels fewer per layer on the batch-1 chain.
bool CudaBackend::fusesNorms(int64_t T, DType matrixType, const ProjectionWidths& widths) const {
  // The dense GEMV reads 16-byte pieces of every input row; h lives in shared memory.
  return fuseNorms_ && fuseDecode_ && T == 1 && (matrixType == DType::BF16 || matrixType == DType::F16) &&
         widths.hidden % 8 == 0 && widths.attention % 8 == 0 && widths.ffn % 8 == 0 &&
         widths.hidden <= cuda::kGemvNormedMaxWidth && gemvFor(T, matrixType);
}

namespace {
void checkFusedNorm(const Tensor& residual, const Weight& norm, const Weight& w, const char* op) {
  if (residual.rows != 1 || residual.dtype != DType::BF16 || norm.dtype != DType::F32 || norm.rows * norm.cols != residual.cols ||
      w.cols != residual.cols || residual.cols % 8 != 0 || (w.dtype != DType::BF16 && w.dtype != DType::F16))
    throw InvalidArgumentError(std::string("internal: ") + op + " takes one bf16 row, a float norm and bf16/f16 matrices of its width");
}
}  // namespace

void CudaBackend::rmsnormMatmulMany(int n, const Tensor* outs, Tensor residual, const Weight& norm, float eps,
                                    const Weight* const* ws, const Weight* const* biases) {
  beginOp("rmsnorm + gemv q/k/v");
  if (n < 1 || n > cuda::kGemvMaxSegments) throw InvalidArgumentError("internal: rmsnormMatmulMany takes 1..3 projections");
  for (int i = 0; i < n; i++) {
    checkFusedNorm(residual, norm, *ws[i], "rmsnormMatmulMany");
    if (ws[i]->dtype != ws[0]->dtype || outs[i].rows != 1 || outs[i].cols != ws[i]->rows || outs[i].dtype != outs[0].dtype ||
        (outs[i].dtype != DType::BF16 && outs[i].dtype != DType::F32))
      throw InvalidArgumentError("internal: rmsnormMatmulMany's outputs do not match its matrices");
  }
  cuda::launchGemvDenseNormed(gemvSegments(n, outs, ws, biases), outs[0].dtype == DType::F32, static_cast<const uint16_t*>(residual.data),
                              static_cast<const float*>(norm.data), eps, residual.cols, ws[0]->dtype, stream_);
}

void CudaBackend::rmsnormMatmulSwiglu(Tensor out, Tensor residual, const Weight& norm, float eps, const Weight& gate,
                                      const Weight& up) {
  beginOp("rmsnorm + gemv gate/up + swiglu");
  checkFusedNorm(residual, norm, gate, "rmsnormMatmulSwiglu");
  if (up.dtype != gate.dtype || up.rows != gate.rows || up.cols != gate.cols || out.rows != 1 || out.cols != gate.rows ||
      out.dtype != DType::BF16)
    throw InvalidArgumentError("internal: rmsnormMatmulSwiglu's gate, up and output do not match");
  cuda::launchGemvSwigluNormed(static_cast<uint16_t*>(out.data), static_cast<const uint16_t*>(residual.data),
                               static_cast<const float*>(norm.data), eps, residual.cols, gate.data, up.data, gate.dtype,
                               gate.rows, stream_);
}

void CudaBackend::matmulIntoResidual(Tensor residual, Tensor x, const Weight& w) {
  beginOp("gemv into residual");
  if (x.rows != 1 || residual.rows != 1 || x.dtype != DType::BF16 || residual.dtype != DType::BF16 || w.cols != x.cols ||
      w.rows != residual.cols || x.cols % 8 != 0 || (w.dtype != DType::BF16 && w.dtype != DType::F16))
    throw InvalidArgumentError("internal: matmulIntoResidual takes one bf16 row and a bf16/f16 matrix that match");
  cuda::launchGemvIntoResidual(static_cast<uint16_t*>(residual.data), static_cast<const uint16_t*>(x.data), x.cols, w.data,
                               w.dtype, w.rows, stream_);
}

void CudaBackend::matmulDequantized(Tensor out, Tensor x, const Weight& w) {
  const int64_t T = x.rows, K = x.cols, N = w.rows, ld = out.ld();
  const bool outF32 = out.dtype == DType::F32;
  int64_t chunk = int64_t(dequantScratch_.bytes / (size_t(K) * 2));
  if (chunk >= 128) chunk = chunk / 128 * 128;  // keeps each slice of out 256-byte aligned
  chunk = std::min(chunk, N);
  if (chunk <= 0) throw DeviceError("internal: dequantization scratch too small for a row of " + std::to_string(K));
  const int64_t rowBytes = dtypeRowBytes(w.dtype, K);
  const size_t outElem = outF32 ? 4 : 2;
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t rows = std::min(chunk, N - n0);
    cuda::launchDequantRows(w.dtype, static_cast<const uint8_t*>(w.data) + n0 * rowBytes, rows, K,
                            static_cast<uint16_t*>(dequantScratch_.ptr), stream_);
    if (!cublasGemm(static_cast<uint8_t*>(out.data) + size_t(n0) * outElem, outF32, ld, x.data, T, K, dequantScratch_.ptr,
                    rows)) {
      for (int64_t t0 = 0; t0 < T; t0 += cuda::kGemvMaxTokens) {  // no algorithm for this shape: GEMV on the bf16 rows
        const int n = int(std::min<int64_t>(cuda::kGemvMaxTokens, T - t0));
        cuda::launchGemv(static_cast<uint8_t*>(out.data) + size_t(t0 * ld + n0) * outElem, outF32, ld,
                         static_cast<const uint16_t*>(x.data) + t0 * K, n, K, dequantScratch_.ptr, DType::BF16, rows,
                         nullptr, stream_);
      }
    }
  }
}

}  // namespace pagedinfer
