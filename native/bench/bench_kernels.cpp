// The kernel measurements: paged attention (decode and prefill), GEMM at prefill shapes, GEMV at
// an 8B Llama's decode shapes (custom kernels and cuBLASLt, bf16 and quantized), the sampler.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>

#include "bench.h"
#include "core/host_step.h"
#include "core/quant.h"
#include "cuda/cuda_check.h"
#include "cuda/kernels.h"

namespace pagedinfer::bench {

namespace {

// `seqs` sequences of context ctx, the last `fresh` tokens of each new this step, blocks shuffled.
HostStep attentionStep(int seqs, int ctx, int fresh, int blockSize, int numBlocks, uint64_t seed) {
  HostStep s;
  const int perSeq = (ctx + blockSize - 1) / blockSize;
  std::vector<int32_t> blocks(static_cast<size_t>(numBlocks));
  std::iota(blocks.begin(), blocks.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  s.maxBlocksPerSeq = perSeq;
  const std::vector<int32_t> slots(size_t(fresh), -1);
  for (int q = 0; q < seqs; q++) {
    const std::vector<int32_t> table(blocks.begin() + q * perSeq, blocks.begin() + (q + 1) * perSeq);
    s.addSequence(ctx - fresh, ctx, 0, table, slots, false);
  }
  return s;
}

std::string shapeOf(int seqs, int ctx, int heads, int kvHeads, int d, int bs) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "B%d ctx%d %d/%d d%d bs%d", seqs, ctx, heads, kvHeads, d, bs);
  return buf;
}

}  // namespace

void benchDecodeAttention(Bench& bench) {
  CudaBackend& b = bench.b;
  const int heads = 32, kvHeads = 8, d = 128, bs = 16;
  struct Case { int seqs, ctx; };
  for (Case c : {Case{64, 2048}, Case{1, 16384}, Case{256, 1024}}) {
    const int numBlocks = c.seqs * (c.ctx / bs) + 16;
    b.allocKvCache(KvCacheShape{1, numBlocks, bs, kvHeads, d});
    b.fillKvCacheRandom(11);
    HostStep hs = attentionStep(c.seqs, c.ctx, 1, bs, numBlocks, 7);
    const StepView& s = b.beginStep(hs.view());
    void* q = bench.deviceAlloc(size_t(c.seqs) * heads * d * 2);
    void* out = bench.deviceAlloc(size_t(c.seqs) * heads * d * 2);
    bench.fillRandom(q, DType::BF16, int64_t(c.seqs) * heads * d, 3, 0, 1);
    Tensor qT{q, DType::BF16, c.seqs, heads * d}, outT{out, DType::BF16, c.seqs, heads * d};
    const AttentionShape a{heads, kvHeads, d, 1.0f / std::sqrt(float(d))};
    const double bytes = double(c.seqs) * c.ctx * kvHeads * d * 2 * 2;
    const char* variants[] = {"4 warps 3 stages", "2 warps 3 stages", "2 warps 4 stages", "4 warps 2 stages",
                              "2 warps 3 stages L2 prefetch", "4 warps 3 stages L2 prefetch"};
    for (int variant : {0, 1, 4, 5}) {
      for (int partition : {0, 2048}) {
        if (partition > c.ctx || (partition && c.seqs == 256)) continue;
        b.setDecodeVariant(variant);
        b.setDecodePartition(partition);
        const double us = bench.medianMicros([&] { b.pagedAttention(outT, qT, s, 0, a); }, 30, 5);
        bench.addBandwidth("decode attention", shapeOf(c.seqs, c.ctx, heads, kvHeads, d, bs), us, bytes,
                           std::string(variants[variant]) + ", partition " + (partition ? std::to_string(partition) : "auto") +
                               " (" + std::to_string(cuda::decodeCtasPerSm(d, variant)) + " CTAs/SM)");
      }
    }
    b.setDecodePartition(0);
    b.setDecodeVariant(-1);
    b.releaseKvCache();
  }
}

// Whole prompts, causal: 8 of 2048 tokens, and a W1 prefill step's 16 of 512.
void benchPrefillAttention(Bench& bench) {
  CudaBackend& b = bench.b;
  const int heads = 32, kvHeads = 8, d = 128, bs = 16;
  struct Case { int seqs, ctx; };
  for (Case c : {Case{8, 2048}, Case{16, 512}}) {
    const int numBlocks = c.seqs * (c.ctx / bs) + 16;
    b.allocKvCache(KvCacheShape{1, numBlocks, bs, kvHeads, d});
    b.fillKvCacheRandom(12);
    HostStep hs = attentionStep(c.seqs, c.ctx, c.ctx, bs, numBlocks, 8);
    const StepView& s = b.beginStep(hs.view());
    const int64_t T = int64_t(c.seqs) * c.ctx;
    void* q = bench.deviceAlloc(size_t(T) * heads * d * 2);
    void* out = bench.deviceAlloc(size_t(T) * heads * d * 2);
    bench.fillRandom(q, DType::BF16, T * heads * d, 4, 0, 1);
    Tensor qT{q, DType::BF16, T, heads * d}, outT{out, DType::BF16, T, heads * d};
    const AttentionShape a{heads, kvHeads, d, 1.0f / std::sqrt(float(d))};
    const double flops = 4.0 * d * heads * c.seqs * (double(c.ctx) * (c.ctx + 1) / 2);  // causal QK^T and PV
    const double us = bench.medianMicros([&] { b.pagedAttention(outT, qT, s, 0, a); }, 10, 2);
    bench.addCompute("prefill attention (causal)", shapeOf(c.seqs, c.ctx, heads, kvHeads, d, bs), us, flops);
    b.releaseKvCache();
  }
}

void benchGemm(Bench& bench) {
  CudaBackend& b = bench.b;
  struct Shape { int64_t T, K, N; };
  for (Shape sh : {Shape{32768, 4096, 4096}, Shape{8192, 4096, 14336}, Shape{8192, 14336, 4096}}) {
    Weight w = b.randomWeight(DType::BF16, sh.N, sh.K, 21, 0, 0.02f);
    void* x = bench.deviceAlloc(size_t(sh.T * sh.K) * 2);
    void* out = bench.deviceAlloc(size_t(sh.T * sh.N) * 2);
    bench.fillRandom(x, DType::BF16, sh.T * sh.K, 22, 0, 1);
    Tensor xT{x, DType::BF16, sh.T, sh.K}, outT{out, DType::BF16, sh.T, sh.N};
    const double us = bench.medianMicros([&] { b.matmul(outT, xT, w, nullptr); }, 10, 3);
    bench.addCompute("GEMM bf16 (cuBLASLt)", std::to_string(sh.T) + "x" + std::to_string(sh.K) + "->" + std::to_string(sh.N), us,
                     2.0 * sh.T * sh.K * sh.N);
    b.releaseWeight(w);
  }
  // The token counts of a serving step that carries decodes and a prompt chunk (docs/benchmarks.md,
  // serving): near the ridge point, where the weight stream and the math take about as long. Each
  // call reads its weight from HBM (copies rotated past the L2); the note gives the step's roofline,
  // max(weight bytes / copy rate, FLOPs / GEMM rate), and the fraction reached.
  // 384 and 512 share a bucket (gemm.cpp): here 384 comes first and chooses its algorithm, which
  // 512 borrows; the engine's warm-up runs 512 first, so there 384 borrows 512's.
  for (int64_t T : {128, 256, 384, 512}) {
    for (Shape sh : {Shape{T, 4096, 4096}, Shape{T, 4096, 14336}, Shape{T, 14336, 4096}}) {
      const double wBytes = 2.0 * double(sh.N) * double(sh.K), flops = 2.0 * sh.T * sh.K * sh.N;
      const int copies = copiesPastL2(wBytes);
      std::vector<Weight> ws;
      for (int i = 0; i < copies; i++) ws.push_back(b.randomWeight(DType::BF16, sh.N, sh.K, 40 + i, 0, 0.02f));
      void* x = bench.deviceAlloc(size_t(sh.T * sh.K) * 2);
      void* out = bench.deviceAlloc(size_t(sh.T * sh.N) * 2);
      bench.fillRandom(x, DType::BF16, sh.T * sh.K, 41, 0, 1);
      Tensor xT{x, DType::BF16, sh.T, sh.K}, outT{out, DType::BF16, sh.T, sh.N};
      int next = 0;
      const double us = bench.medianMicros([&] { b.matmul(outT, xT, ws[size_t(next++ % copies)], nullptr); }, 40, 5);
      const double bytesUs = bench.bytesMicros(wBytes), flopsUs = bench.flopsMicros(flops);
      const double roofUs = std::max(bytesUs, flopsUs);
      char note[128];
      std::snprintf(note, sizeof note, "roofline %.1f us (%s): %.0f%% of it", roofUs, bytesUs > flopsUs ? "bytes" : "FLOPs",
                    100.0 * roofUs / us);
      bench.addCompute("GEMM bf16, a mixed step's size", std::to_string(sh.T) + "x" + std::to_string(sh.K) + "->" + std::to_string(sh.N),
                       us, flops, note);
      for (Weight& w : ws) b.releaseWeight(w);
    }
  }
}

namespace {

// Host bytes of a random quantized weight with sane scales (as the kernel tests make them).
std::vector<uint8_t> randomQuantBytes(DType dtype, int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<uint8_t> bytes(size_t(rows * dtypeRowBytes(dtype, cols)));
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(&bytes[i], &x, 8);
  }
  const int64_t blocks = rows * cols / dtypeBlockElems(dtype), blockBytes = dtypeBlockBytes(dtype);
  const uint16_t d = floatToF16(0.004f);
  for (int64_t i = 0; i < blocks; i++) {
    uint8_t* blk = bytes.data() + i * blockBytes;
    if (dtype == DType::Q8_0) std::memcpy(blk, &d, 2);
    else if (dtype == DType::Q4_K) std::memcpy(blk, &d, 2), std::memcpy(blk + 2, &d, 2);
  }
  return bytes;
}

// One layer's q/k/v (4096 -> 4096 + 1024 + 1024) and gate/up + SwiGLU (4096 -> 2 x 14336) at one
// token, as separate launches and fused (gemv_dense.cu), with chained launches off and on: the
// timed region holds all of a row's launches.
void benchFusedGemv(Bench& bench) {
  CudaBackend& b = bench.b;
  const int64_t H = 4096, KV = 1024, F = 14336;
  void* x = bench.deviceAlloc(size_t(H) * 2);
  bench.fillRandom(x, DType::BF16, H, 41, 0, 1);
  Tensor xT{x, DType::BF16, 1, H};
  auto weights = [&](int64_t rows, int copies, uint64_t seed) {
    std::vector<Weight> ws;
    for (int i = 0; i < copies; i++) ws.push_back(b.randomWeight(DType::BF16, rows, H, seed + uint64_t(i), 0, 0.02f));
    return ws;
  };
  auto out = [&](int64_t cols) { return Tensor{bench.deviceAlloc(size_t(cols) * 2), DType::BF16, 1, cols}; };
  const bool pdlWas = cuda::programmaticLaunchFlag().load();
  b.setGemmPath(CudaBackend::GemmPath::Auto);  // the GEMV path at one token, as the model runs
  struct Variant {
    bool pdl, fused;
  };
  const Variant variants[] = {{false, false}, {false, true}, {true, false}, {true, true}};
  // One line per variant; `launch` runs copy c of the weights (copies rotate past the L2).
  auto timeVariants = [&](const std::string& name, const char* shape, double bytes, int copies,
                          const std::function<void(size_t)>& launch) {
    for (const Variant& v : variants) {
      b.setProgrammaticLaunch(v.pdl);
      b.setDecodeFusion(v.fused);
      int next = 0;
      const double us = bench.medianMicros([&] { launch(size_t(next++ % copies)); }, 40, 5);
      bench.addBandwidth(name + (v.fused ? " (one launch)" : " (three)"), shape, us, bytes, v.pdl ? "chained launches" : "");
    }
  };
  {
    const double bytes = 2.0 * double(H) * double(H + 2 * KV);
    const int copies = copiesPastL2(bytes);
    std::vector<Weight> wq = weights(H, copies, 50), wk = weights(KV, copies, 150), wv = weights(KV, copies, 250);
    const Tensor outs[3] = {out(H), out(KV), out(KV)};
    const Weight* none[3] = {nullptr, nullptr, nullptr};
    timeVariants("GEMV bf16 q/k/v", "T1 4096->4096+1024+1024", bytes, copies, [&](size_t c) {
      const Weight* ws[3] = {&wq[c], &wk[c], &wv[c]};
      b.matmulMany(3, outs, xT, ws, none);
    });
    for (std::vector<Weight>* ws : {&wq, &wk, &wv})
      for (Weight& w : *ws) b.releaseWeight(w);
  }
  {
    const double bytes = 2.0 * double(H) * double(2 * F);
    const int copies = copiesPastL2(bytes);
    std::vector<Weight> wg = weights(F, copies, 350), wu = weights(F, copies, 450);
    Tensor gate = out(F), up = out(F);
    timeVariants("GEMV bf16 gate/up+SwiGLU", "T1 4096->2x14336", bytes, copies,
                 [&](size_t c) { b.matmulSwiglu(gate, xT, wg[c], wu[c], up); });
    for (std::vector<Weight>* ws : {&wg, &wu})
      for (Weight& w : *ws) b.releaseWeight(w);
  }
  b.setDecodeFusion(true);
  b.setProgrammaticLaunch(pdlWas);
}

}  // namespace

void benchGemv(Bench& bench) {
  CudaBackend& b = bench.b;
  struct Shape { int64_t K, N; };
  const Shape shapes[] = {{4096, 4096}, {4096, 14336}, {14336, 4096}, {4096, 128256}};
  auto run = [&](DType dtype, const Shape& sh, int T, const char* path, bool outF32) {
    const size_t wBytes = size_t(sh.N * dtypeRowBytes(dtype, sh.K));
    const int copies = copiesPastL2(double(wBytes));
    std::vector<Weight> ws;
    std::vector<uint8_t> host;
    if (dtype != DType::BF16) host = randomQuantBytes(dtype, sh.N, sh.K, 5);
    for (int i = 0; i < copies; i++) {
      if (dtype == DType::BF16) {
        ws.push_back(b.randomWeight(DType::BF16, sh.N, sh.K, 30 + i, 0, 0.02f));
      } else {
        HostTensor ht{"bench", host.data(), host.size(), dtype, {sh.N, sh.K}};
        ws.push_back(b.loadWeight(ht, true));
      }
    }
    void* x = bench.deviceAlloc(size_t(T * sh.K) * 2);
    void* out = bench.deviceAlloc(size_t(T * sh.N) * 4);
    bench.fillRandom(x, DType::BF16, T * sh.K, 31, 0, 1);
    Tensor xT{x, DType::BF16, T, sh.K}, outT{out, outF32 ? DType::F32 : DType::BF16, T, sh.N};
    int next = 0;
    const double us = bench.medianMicros([&] { b.matmul(outT, xT, ws[size_t(next++ % copies)], nullptr); }, 40, 5);
    bench.addBandwidth(std::string("GEMV ") + dtypeName(dtype) + " (" + path + ")",
                       "T" + std::to_string(T) + " " + std::to_string(sh.K) + "->" + std::to_string(sh.N), us, double(wBytes),
                       outF32 ? "float32 out" : "");
    for (Weight& w : ws) b.releaseWeight(w);
  };
  for (const Shape& sh : shapes) {
    const bool logits = sh.N == 128256;
    b.setGemmPath(CudaBackend::GemmPath::Gemv);
    run(DType::BF16, sh, 1, "custom", logits);
    b.setGemmPath(CudaBackend::GemmPath::CublasLt);
    run(DType::BF16, sh, 1, "cuBLASLt", logits);
  }
  benchFusedGemv(bench);
  b.setGemmPath(CudaBackend::GemmPath::Gemv);
  for (int T : {2, 8}) {
    b.setGemmPath(CudaBackend::GemmPath::Gemv);
    run(DType::BF16, Shape{4096, 14336}, T, "custom", false);
    b.setGemmPath(CudaBackend::GemmPath::CublasLt);
    run(DType::BF16, Shape{4096, 14336}, T, "cuBLASLt", false);
  }
  b.setGemmPath(CudaBackend::GemmPath::Auto);
  for (DType q : {DType::Q8_0, DType::Q4_K, DType::Q6_K})
    for (const Shape& sh : {Shape{4096, 14336}, Shape{14336, 4096}}) run(q, sh, 1, "custom", false);
}

void benchSampling(Bench& bench) {
  CudaBackend& b = bench.b;
  const int rows = 256, vocab = 128256;
  // LLM-like logits: a Gaussian bulk and, per row, a hundred tokens well above it.
  std::vector<float> host(size_t(rows) * vocab);
  std::mt19937_64 rng(42);
  std::normal_distribution<float> bulk(0.0f, 2.5f);
  std::uniform_real_distribution<float> lift(5.0f, 15.0f);
  std::uniform_int_distribution<int> token(0, vocab - 1);
  for (float& v : host) v = bulk(rng);
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < 100; i++) host[size_t(r) * vocab + size_t(token(rng))] += lift(rng);
  void* logits = bench.deviceAlloc(host.size() * 4);
  CUDA_CHECK(cudaMemcpy(logits, host.data(), host.size() * 4, cudaMemcpyHostToDevice));
  Tensor logitsT{logits, DType::F32, rows, vocab};

  HostSampling params;
  for (int r = 0; r < rows; r++) params.addRow(0.0f, 0);  // configure() below sets each mode's values
  std::vector<int32_t> logitRows(rows);
  std::iota(logitRows.begin(), logitRows.end(), 0);
  const SamplingView sv = params.view();
  StepView view;
  view.numLogitRows = rows;
  view.logitRows = logitRows.data();
  view.sampling = &sv;
  // mode: 0 greedy, 1 T=1, 2 T=0.7 top-p 0.9, 3 T=0.8 top-k 50 min-p 0.05, 4 a mix of all four
  // The mix's kinds, row by row (PAGEDINFER_BENCH_SAMPLING_MIX=1,2 mixes T = 1 and top-p rows only).
  std::vector<int> mixKinds = {0, 1, 2, 3};
  if (const char* mix = std::getenv("PAGEDINFER_BENCH_SAMPLING_MIX")) {
    mixKinds.clear();
    for (const char* c = mix; *c; c++)
      if (*c >= '0' && *c <= '3') mixKinds.push_back(*c - '0');
    if (mixKinds.empty()) mixKinds = {0, 1, 2, 3};
  }
  auto configure = [&](int mode, int logprobs) {
    for (int r = 0; r < rows; r++) {
      const int m = mode == 4 ? mixKinds[size_t(r) % mixKinds.size()] : mode;
      params.temperature[r] = m == 0 ? 0.0f : m == 1 ? 1.0f : m == 2 ? 0.7f : 0.8f;
      params.topP[r] = m == 2 ? 0.9f : 1.0f;
      params.topK[r] = m == 3 ? 50 : 0;
      params.minP[r] = m == 3 ? 0.05f : 0.0f;
      params.seeds[2 * r] = uint32_t(r * 7919 + 1);
      params.numLogprobs[r] = logprobs;
    }
  };
  const char* names[] = {"greedy", "T=1", "T=0.7 top-p 0.9", "T=0.8 top-k 50 min-p 0.05", "mix of the four"};
  const int target = std::getenv("PAGEDINFER_SAMPLE_BUFFER_TARGET") ? std::atoi(std::getenv("PAGEDINFER_SAMPLE_BUFFER_TARGET")) : 0;
  b.setSampleBufferTarget(target);
  for (int mode = 0; mode < 5; mode++) {
    for (int logprobs : {-1, 5}) {
      if (logprobs >= 0 && mode != 4) continue;
      configure(mode, logprobs);
      const int before = b.sampleHostFallbacks();
      int step = 0;
      std::vector<float> kernelUs;
      const double us = bench.medianHostMicros([&] {
        for (int r = 0; r < rows; r++) params.outputIndex[r] = step;
        step++;
        StepOutput out;
        b.sample(logitsT, view, view, out);
        kernelUs.push_back(b.lastSampleKernelMicros());
      }, 20, 3);
      std::sort(kernelUs.begin(), kernelUs.end());
      const int fallbacks = b.sampleHostFallbacks() - before;
      char note[160];
      std::snprintf(note, sizeof note, "kernels %.1f us; %d of %d rows redone on the host; buffer target %d",
                    kernelUs[kernelUs.size() / 2], fallbacks, 23 * rows, target ? target : 256);
      bench.addBandwidth(std::string("sampling ") + names[mode] + (logprobs >= 0 ? " +5 logprobs" : ""),
                         "256 x 128256, sample() wall", us, double(rows) * vocab * 4, note);
    }
  }
}

}  // namespace pagedinfer::bench
