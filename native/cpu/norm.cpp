// RMSNorm family: plain, with the residual add fused, per attention head (qwen3), and the final
// norm of only the rows that produce logits.
#include <cmath>
#include <vector>

#include "cpu_backend.h"

namespace pagedinfer {

void rmsnormRow(float* out, const float* x, const float* w, int n, float eps) {
  double sumSquares = 0;
  for (int i = 0; i < n; i++) sumSquares += double(x[i]) * x[i];
  float inv = float(1.0 / std::sqrt(sumSquares / n + eps));
  for (int i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

void CpuBackend::rmsnorm(Tensor out, Tensor x, const Weight& w, float eps) {
  const int n = int(x.cols);
  const float* wf = static_cast<const float*>(w.data);
  pool().parallelFor(x.rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) rmsnormRow(out.f32() + r * n, x.f32() + r * n, wf, n, eps);
  });
}

void CpuBackend::addRmsnorm(Tensor out, Tensor residual, Tensor x, const Weight& w, float eps) {
  const int n = int(x.cols);
  const float* wf = static_cast<const float*>(w.data);
  pool().parallelFor(x.rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      float* res = residual.f32() + r * n;
      const float* xr = x.f32() + r * n;
      for (int i = 0; i < n; i++) res[i] += xr[i];
      rmsnormRow(out.f32() + r * n, res, wf, n, eps);
    }
  });
}

void CpuBackend::headRmsnorm(Tensor x, int numHeads, int headDim, const Weight& w, float eps) {
  const float* wf = static_cast<const float*>(w.data);
  pool().parallelFor(x.rows * numHeads, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float* head = x.f32() + i * headDim;  // rows are numHeads heads of headDim, contiguous
      rmsnormRow(head, head, wf, headDim, eps);
    }
  });
}

void CpuBackend::finalNorm(Tensor out, Tensor residual, Tensor x, const StepView& s, const Weight& w, float eps) {
  const int n = int(x.cols);
  const float* wf = static_cast<const float*>(w.data);
  pool().parallelFor(s.numLogitRows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> sum(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; r++) {
      int64_t row = s.logitRows[r];
      const float* res = residual.f32() + row * n;
      const float* xr = x.f32() + row * n;
      for (int i = 0; i < n; i++) sum[i] = res[i] + xr[i];
      rmsnormRow(out.f32() + r * n, sum.data(), wf, n, eps);
    }
  });
}

}  // namespace pagedinfer
