// End-to-end decode on a Llama-3-8B-shaped model with dummy bf16 weights: one sequence (the
// weight-bandwidth roofline: every matrix read once per token) and a batch of 64, decode steps
// recorded as CUDA graphs. Each step's time includes sampling and the copy of tokens to the host.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>

#include "bench.h"
#include "core/host_step.h"
#include "core/model.h"

namespace pagedinfer::bench {

namespace {

ModelConfig llama3_8b() {
  ModelConfig c;
  c.hiddenSize = 4096;
  c.intermediateSize = 14336;
  c.numLayers = 32;
  c.numHeads = 32;
  c.numKvHeads = 8;
  c.headDim = 128;
  c.vocabSize = 128256;
  c.maxContext = 8192;
  c.rmsNormEps = 1e-5f;
  c.rotaryDim = 128;
  for (int i = 0; i < 64; i++) c.ropeInvFreq.push_back(float(1.0 / std::pow(500000.0, 2.0 * i / 128)));
  return c;
}

struct Batch {
  HostStep step;
  HostSampling sampling;
  SamplingView sv;
  StepView view() {
    StepView v = step.view();
    sv = sampling.view();
    v.sampling = &sv;
    return v;
  }
};

// Sequence s owns blocks [s * width, (s + 1) * width); its tokens [from, to) are new this step.
void addSeq(Batch& b, int s, int from, int to, int width, int blockSize, int token) {
  std::vector<int32_t> table(static_cast<size_t>(width)), slots;
  for (int i = 0; i < width; i++) table[size_t(i)] = s * width + i;
  for (int p = from; p < to; p++) slots.push_back((s * width + p / blockSize) * blockSize + p % blockSize);
  b.step.maxBlocksPerSeq = width;
  b.step.addSequence(from, to, token, table, slots, true);
  b.sampling.addRow(0.0f, uint64_t(s));  // greedy
}

// The batch-1 decode step without rope, attention and sampling: its projections (fused q/k/v,
// fused gate/up + SwiGLU) and norms, launched chained as the model launches them, on separate
// weights of the same shapes. The step's time beyond this is what those three cost on the chain.
void benchStepWithoutAttention(Bench& bench, CudaBackend& b, const ModelConfig& c, double weightBytes) {
  const int64_t H = c.hiddenSize, F = c.intermediateSize, Q = c.qDim(), KV = c.kvDim();
  struct Layer {
    Weight q, k, v, o, gate, up, down, attnNorm, ffnNorm;
  };
  std::vector<Layer> layers(static_cast<size_t>(c.numLayers));
  uint64_t seed = 77;
  auto matrix = [&](int64_t rows, int64_t cols) { return b.randomWeight(DType::BF16, rows, cols, seed++, 0.0f, 1.7f / std::sqrt(float(cols))); };
  auto norm = [&] { return b.randomWeight(DType::F32, 1, H, seed++, 1.0f, 0.1f); };
  for (Layer& l : layers) l = {matrix(Q, H), matrix(KV, H), matrix(KV, H), matrix(H, Q), matrix(F, H), matrix(F, H), matrix(H, F), norm(), norm()};
  Weight output = matrix(c.vocabSize, H), outputNorm = norm();
  auto act = [&](int64_t cols, DType dtype = DType::BF16) {
    Tensor t{bench.deviceAlloc(size_t(cols) * 4), dtype, 1, cols};
    bench.fillRandom(t.data, dtype, cols, seed++, 0.0f, 1.0f);
    return t;
  };
  Tensor residual = act(H), x = act(H), h = act(H), q = act(Q), k = act(KV), v = act(KV), gate = act(F), up = act(F),
         logits = act(c.vocabSize, DType::F32);
  {
    auto forward = [&] {
      for (int i = 0; i < c.numLayers; i++) {
        const Layer& l = layers[size_t(i)];
        b.addRmsnorm(h, residual, x, l.attnNorm, c.rmsNormEps);
        const Tensor qkv[3] = {q, k, v};
        const Weight* ws[3] = {&l.q, &l.k, &l.v};
        const Weight* none[3] = {nullptr, nullptr, nullptr};
        b.matmulMany(3, qkv, h, ws, none);
        b.matmul(x, q, l.o, nullptr);
        b.addRmsnorm(h, residual, x, l.ffnNorm, c.rmsNormEps);
        b.matmulSwiglu(gate, h, l.gate, l.up, up);
        b.matmul(x, gate, l.down, nullptr);
      }
      b.rmsnorm(h, residual, outputNorm, c.rmsNormEps);
      b.matmul(logits, h, output, nullptr);
    };
    // Eager launches: the host enqueues a kernel in a few µs, each of these runs longer on the
    // device, so the queue stays ahead and the time is the device's.
    const double us = bench.medianMicros(forward, 10, 2);
    char note[96];
    std::snprintf(note, sizeof note, "%.1f tok/s if the step were only this", 1e6 / us);
    bench.addBandwidth("decode step without rope, attention, sampling", "batch 1, llama-3-8b, chained", us, weightBytes, note);
  }
  for (Layer& l : layers)
    for (Weight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down, &l.attnNorm, &l.ffnNorm}) b.releaseWeight(*w);
  b.releaseWeight(output);
  b.releaseWeight(outputNorm);
}

}  // namespace

void benchModelDecode(Bench& bench, bool batch1Only) {
  const ModelConfig c = llama3_8b();
  auto owned = std::make_unique<CudaBackend>(0, CudaBackend::Options{true});
  CudaBackend& backend = *owned;
  Model model(c, std::move(owned));
  const bool pdlDefault = cuda::programmaticLaunchFlag().load();
  const int defaultVariant = backend.decodeVariant();
  auto t0 = std::chrono::steady_clock::now();
  model.loadDummy(DType::BF16, 2024, {});
  const double loadS = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int blockSize = 16, prompt = 512, decodeSteps = 24, width = (prompt + decodeSteps + 16) / blockSize + 1;
  double weightBytes = 0;
  {
    const double H = c.hiddenSize, F = c.intermediateSize, Q = c.qDim(), KV = c.kvDim();
    weightBytes = 2.0 * (c.numLayers * (H * Q + 2 * H * KV + Q * H + 3 * H * F) + double(c.vocabSize) * H);
  }
  std::printf("  llama-3-8b dummy bf16 weights generated in %.1f s; %.2f GB of matrices read per decode step\n", loadS,
              weightBytes / 1e9);
  {
    // The engine's warm-up before its first request (a step per token and batch bucket; each
    // first GEMM of a bucket asks cuBLASLt for an algorithm): part of every cold start. It also
    // widens the backend's block table to 8192 tokens, as in the engine, whose decode graphs then
    // size attention's grid for that width (docs/cuda-kernels.md L9).
    model.initKvCache(8192 / blockSize + 1, blockSize);
    const auto w0 = std::chrono::steady_clock::now();
    model.warmup(8192, 256);
    std::printf("  engine warm-up (8192 batched tokens, 256 sequences): %.3f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
  }
  // Batch 1 with the decode fusion (fused q/k/v and gate/up GEMVs) and the chained launches off
  // and on, the default twice (the spread between the two is the noise); batch 64 (its matrices
  // go to cuBLASLt, unfused) with chained launches off and on.
  // Batch 1 also with fixed attention partitions (the default splits this context into 64-key
  // partitions, combined by the last one; 1024 keys is one partition, no combine).
  struct Config {
    int batch;
    bool fused, pdl;
    int partition = 0;  // keys per decode attention partition; 0: the backend's choice
    int variant = -1;   // decode attention variant (attention_decode.cu); -1: the backend's default
    bool ropeInAttention = true;  // decode tokens' rope + cache write inside the attention kernel
    bool greedySplit = true;      // a greedy row's arg-max over several CTAs
    bool normFusion = true;       // the layer norms inside the batch-1 projections (fusesNorms)
  };
  std::vector<Config> configs = {{1, false, false}, {1, true, false}, {1, false, true}, {1, true, true},
                                 {1, true, true},   {1, true, true, 32}, {1, true, true, 128}, {1, true, true, 256}, {1, true, true, 1024},
                                 {1, true, true, 0, 4}, {1, true, true, 0, 0}, {1, true, true, 0, 1},
                                 {1, true, true, 0, -1, false}, {1, true, true, 0, -1, true, false}, {1, true, true},
                                 {1, true, true, 0, -1, true, false}, {1, true, true, 0, -1, true, true, false}, {1, true, true},
                                 {64, true, false}, {64, true, true}};
  if (batch1Only) configs = {{1, true, pdlDefault}};  // the default decode path only (e.g. under a profiler)
  if (!pdlDefault)  // no chained launches on this device (or PAGEDINFER_CUDA_PDL=0)
    configs.erase(std::remove_if(configs.begin(), configs.end(), [](const Config& k) { return k.pdl; }), configs.end());
  for (const Config& config : configs) {
    const int batch = config.batch;
    backend.setDecodeFusion(config.fused);
    backend.setProgrammaticLaunch(config.pdl);
    backend.setDecodePartition(config.partition);
    backend.setDecodeVariant(config.variant >= 0 ? config.variant : defaultVariant);
    backend.setDecodeRopeFusion(config.ropeInAttention);
    backend.setGreedySplit(config.greedySplit);
    backend.setNormFusion(config.normFusion);
    backend.invalidateGraphs();  // the partition is recorded in the graphs
    model.initKvCache(batch * width, blockSize);
    for (int s0 = 0; s0 < batch; s0 += 16) {  // prefill in chunks of 16 sequences
      Batch pre;
      for (int s = s0; s < std::min(batch, s0 + 16); s++) addSeq(pre, s, 0, prompt, width, blockSize, 1000 + s);
      StepOutput out;
      model.step(pre.view(), out);
    }
    std::vector<double> ms;
    std::vector<int32_t> next(static_cast<size_t>(batch), 1);
    for (int step = 0; step < decodeSteps; step++) {
      Batch d;
      for (int s = 0; s < batch; s++) addSeq(d, s, prompt + step, prompt + step + 1, width, blockSize, next[size_t(s)]);
      StepOutput out;
      auto t = std::chrono::steady_clock::now();
      model.step(d.view(), out);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      next = out.tokens;
    }
    std::vector<double> steady(ms.begin() + 3, ms.end());  // after the eager and the recording steps
    std::sort(steady.begin(), steady.end());
    const double med = steady[steady.size() / 2];
    char shape[128], note[160];
    std::snprintf(shape, sizeof shape, "batch %d, ctx %d, graphs, fusion %s, chained %s%s", batch, prompt + decodeSteps,
                  config.fused ? "on" : "off", config.pdl ? "on" : "off",
                  (std::string(config.partition ? ", partitions of " + std::to_string(config.partition) : "") +
                   (config.variant >= 0 ? ", attention variant " + std::to_string(config.variant) : "") +
                   (config.ropeInAttention ? "" : ", rope kernel") + (config.greedySplit ? "" : ", one CTA a greedy row") + (config.normFusion ? "" : ", norm kernels"))
                      .c_str());
    std::snprintf(note, sizeof note, "%.1f tok/s; first steps %.2f / %.2f / %.2f ms (eager, recording, replay)",
                  batch * 1000.0 / med, ms[0], ms[1], ms[2]);
    bench.addBandwidth("decode step llama-3-8b (weights)", shape, med * 1000.0, weightBytes, note);
  }
  backend.setDecodeFusion(true);
  backend.setProgrammaticLaunch(pdlDefault);
  backend.setDecodePartition(0);
  backend.setDecodeVariant(defaultVariant);
  backend.setDecodeRopeFusion(true);
  backend.setGreedySplit(true);
  backend.setNormFusion(true);
  if (!batch1Only) benchStepWithoutAttention(bench, backend, c, weightBytes);
}

}  // namespace pagedinfer::bench
