// Plain reference implementations of the Backend ops: simple loops in double precision over
// logical (unpaged) data. Every backend's kernels are compared against these.
#pragma once
#include <cstdint>
#include <vector>

namespace pagedinfer::ref {

using Vec = std::vector<double>;

// [rows, n] rows normalised by their root mean square, times w.
Vec rmsnorm(const Vec& x, const Vec& w, int64_t rows, int64_t n, double eps);
// out[t, o] = sum_k x[t, k] * w[o, k] (+ bias[o]); w already dequantized.
Vec matmul(const Vec& x, const Vec& w, const Vec* bias, int64_t T, int64_t K, int64_t N);
// Rotates each head of x [T, heads * headDim] by positions[t] * invFreq[j].
Vec rope(const Vec& x, const std::vector<int32_t>& positions, const std::vector<float>& invFreq, int heads, int headDim,
         bool neox);
// Causal attention of one sequence's new tokens: q [n, heads * d] at positions[i]; keys and
// values [ctx, kvHeads * d] in logical order.
Vec attention(const Vec& q, const std::vector<int32_t>& positions, const Vec& k, const Vec& v, int heads, int kvHeads,
              int headDim, double scale);
Vec swiglu(const Vec& gate, const Vec& up);

}  // namespace pagedinfer::ref
