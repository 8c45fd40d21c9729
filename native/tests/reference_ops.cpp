#include "reference_ops.h"

#include <cmath>

namespace pagedinfer::ref {

Vec rmsnorm(const Vec& x, const Vec& w, int64_t rows, int64_t n, double eps) {
  Vec out(x.size());
  for (int64_t r = 0; r < rows; r++) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[r * n + i] * x[r * n + i];
    double inv = 1.0 / std::sqrt(ss / double(n) + eps);
    for (int64_t i = 0; i < n; i++) out[r * n + i] = x[r * n + i] * inv * w[i];
  }
  return out;
}

Vec matmul(const Vec& x, const Vec& w, const Vec* bias, int64_t T, int64_t K, int64_t N) {
  Vec out(size_t(T * N));
  for (int64_t t = 0; t < T; t++)
    for (int64_t o = 0; o < N; o++) {
      double s = bias ? (*bias)[o] : 0.0;
      for (int64_t k = 0; k < K; k++) s += x[t * K + k] * w[o * K + k];
      out[t * N + o] = s;
    }
  return out;
}

Vec rope(const Vec& x, const std::vector<int32_t>& positions, const std::vector<float>& invFreq, int heads, int headDim,
         bool neox) {
  Vec out = x;
  const int half = int(invFreq.size());
  const int64_t rowLen = int64_t(heads) * headDim;
  for (size_t t = 0; t < positions.size(); t++)
    for (int h = 0; h < heads; h++)
      for (int j = 0; j < half; j++) {
        int i0 = neox ? j : 2 * j, i1 = neox ? j + half : 2 * j + 1;
        double angle = double(positions[t]) * double(invFreq[j]);
        double x0 = x[t * rowLen + h * headDim + i0], x1 = x[t * rowLen + h * headDim + i1];
        out[t * rowLen + h * headDim + i0] = x0 * std::cos(angle) - x1 * std::sin(angle);
        out[t * rowLen + h * headDim + i1] = x1 * std::cos(angle) + x0 * std::sin(angle);
      }
  return out;
}

Vec attention(const Vec& q, const std::vector<int32_t>& positions, const Vec& k, const Vec& v, int heads, int kvHeads,
              int headDim, double scale) {
  const int group = heads / kvHeads;
  Vec out(q.size());
  for (size_t i = 0; i < positions.size(); i++)
    for (int h = 0; h < heads; h++) {
      int kvh = h / group;
      int ctx = positions[i] + 1;
      Vec scores(static_cast<size_t>(ctx));
      double maxScore = -INFINITY;
      for (int t = 0; t < ctx; t++) {
        double s = 0;
        for (int d = 0; d < headDim; d++)
          s += q[(i * heads + h) * headDim + d] * k[(size_t(t) * kvHeads + kvh) * headDim + d];
        scores[t] = s * scale;
        maxScore = std::max(maxScore, scores[t]);
      }
      double sum = 0;
      for (double& s : scores) sum += s = std::exp(s - maxScore);
      for (int d = 0; d < headDim; d++) {
        double acc = 0;
        for (int t = 0; t < ctx; t++) acc += scores[t] * v[(size_t(t) * kvHeads + kvh) * headDim + d];
        out[(i * heads + h) * headDim + d] = acc / sum;
      }
    }
  return out;
}

Vec swiglu(const Vec& gate, const Vec& up) {
  Vec out(gate.size());
  for (size_t i = 0; i < gate.size(); i++) out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  return out;
}

}  // namespace pagedinfer::ref
