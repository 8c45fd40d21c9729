// Embedding lookup and the SwiGLU activation.
#include <cmath>

#include "../core/quant.h"
#include "cpu_backend.h"

namespace pagedinfer {

void CpuBackend::embedding(Tensor out, const StepView& s, const Weight& table) {
  const int64_t n = table.cols;
  const int64_t rowBytes = dtypeRowBytes(table.dtype, n);
  pool().parallelFor(s.numTokens, 8, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const uint8_t* row = static_cast<const uint8_t*>(table.data) + int64_t(s.tokenIds[t]) * rowBytes;
      dequantizeRow(table.dtype, row, out.f32() + t * n, n);
    }
  });
}

void CpuBackend::swiglu(Tensor out, Tensor gate, Tensor up) {
  const int64_t total = gate.rows * gate.cols;
  pool().parallelFor(total, 4096, [&](int64_t i0, int64_t i1) {
    const float* g = gate.f32();
    const float* u = up.f32();
    float* o = out.f32();
    for (int64_t i = i0; i < i1; i++) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  });
}

}  // namespace pagedinfer
