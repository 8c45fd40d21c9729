// What cuBLASLt can do at a serving step's sizes: for each (tokens, matrix) the heuristic's
// candidates are each timed on weights rotated past the L2, and the heuristic's first pick is
// printed beside the fastest one and the roofline max(weight bytes / copy rate, FLOPs / GEMM
// rate). The matrices include the fused q/k/v (4096 -> 6144) and gate/up (4096 -> 28672) shapes.
// `--only gemm-candidates`; it answers whether choosing among cuBLASLt's algorithms, or fusing
// projections, can bring a 128-512-row step near its roofline.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "bench.h"
#include "cuda/cublaslt_gemm.h"

namespace pagedinfer::bench {

namespace {
constexpr int kMaxCandidates = 24;
}  // namespace

void benchGemmCandidates(Bench& bench) {
  const cublaslt::Api& lt = cublaslt::api();
  if (!lt.loaded) {
    std::printf("  gemm candidates: cuBLASLt not loaded (%s)\n", lt.error.c_str());
    return;
  }
  CudaBackend& be = bench.b;
  cublaslt::Handle handle = nullptr;
  if (lt.create(&handle) != cublaslt::kSuccess) {
    std::printf("  gemm candidates: cublasLtCreate failed\n");
    return;
  }
  const size_t workspaceBytes = size_t(32) << 20;
  void* workspace = bench.deviceAlloc(workspaceBytes);
  struct Matrix {
    int64_t K, N;
    const char* what;
  };
  const Matrix matrices[] = {{4096, 4096, "q / o"},       {4096, 1024, "k / v"},  {4096, 6144, "q+k+v fused"},
                             {4096, 14336, "gate / up"},  {4096, 28672, "gate+up fused"}, {14336, 4096, "down"}};
  for (int64_t T : {128, 256, 384, 512}) {
    for (const Matrix& m : matrices) {
      // The problem as the engine states it (gemm.cpp): bf16 output, packed rows.
      const cublaslt::TnProblem problem(T, m.K, m.N, m.N, false);
      cublaslt::HeuristicResult results[kMaxCandidates]{};
      const int found = problem.candidates(handle, workspaceBytes, results, kMaxCandidates);
      if (found == 0) {
        std::printf("  gemm candidates: no algorithm for %lldx%lld->%lld\n", (long long)T, (long long)m.K, (long long)m.N);
        continue;
      }
      const double wBytes = 2.0 * double(m.N) * double(m.K), flops = 2.0 * double(T) * double(m.K) * double(m.N);
      const int copies = copiesPastL2(wBytes);
      std::vector<Weight> weights;
      for (int i = 0; i < copies; i++) weights.push_back(be.randomWeight(DType::BF16, m.N, m.K, 60 + uint64_t(i), 0, 0.02f));
      void* x = bench.deviceAlloc(size_t(T * m.K) * 2);
      void* out = bench.deviceAlloc(size_t(T * m.N) * 2);
      bench.fillRandom(x, DType::BF16, T * m.K, 61, 0, 1);
      std::vector<double> us(size_t(found), 0.0);
      for (int c = 0; c < found; c++) {
        int next = 0;
        bool failed = false;
        us[size_t(c)] = bench.medianMicros(
            [&] {
              const Weight& w = weights[size_t(next++ % copies)];
              failed |= problem.run(handle, w.data, x, out, results[c].algo, workspace, workspaceBytes, be.stream()) !=
                        cublaslt::kSuccess;
            },
            30, 3);
        if (failed) us[size_t(c)] = 0;
      }
      for (Weight& w : weights) be.releaseWeight(w);
      int best = -1;
      for (int c = 0; c < found; c++)
        if (us[size_t(c)] > 0 && (best < 0 || us[size_t(c)] < us[size_t(best)])) best = c;
      if (best < 0) continue;
      const double roofUs = std::max(bench.bytesMicros(wBytes), bench.flopsMicros(flops));
      char note[160];
      std::snprintf(note, sizeof note, "%s: heuristic's first %.1f us (%.0f%% of roofline), best #%d of %d %.1f us (%.0f%%)",
                    m.what, us[0], us[0] > 0 ? 100.0 * roofUs / us[0] : 0.0, best, found, us[size_t(best)],
                    100.0 * roofUs / us[size_t(best)]);
      bench.addCompute("GEMM bf16, best cuBLASLt candidate",
                       std::to_string(T) + "x" + std::to_string(m.K) + "->" + std::to_string(m.N), us[size_t(best)], flops, note);
    }
  }
  lt.destroy(handle);
}

}  // namespace pagedinfer::bench
