// pagedinfer_kernel_bench: CUDA kernel microbenchmarks, each number beside the device's measured
// ceilings (copy bandwidth and bf16 GEMM rate, measured first in the same run).
//   pagedinfer_kernel_bench [--only NAME[,NAME...]]   names: attention, prefill, gemm, gemm-candidates, gemv, sampling, model
//                                                     (model1: its default batch-1 decode alone;
//                                                     gemm-candidates runs only when named)
// Prints one line per measurement as it goes and the table at the end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "bench.h"
#include "cuda/cuda_check.h"
#include "cuda/event_timing.h"
#include "cuda/kernels.h"

namespace pagedinfer::bench {

double Bench::medianMicros(const std::function<void()>& f, int reps, int warmup) {
  for (int i = 0; i < warmup; i++) f();
  b.synchronize();
  return 1000.0 * cuda::medianEventMillis(b.stream(), reps, f);
}

double Bench::medianHostMicros(const std::function<void()>& f, int reps, int warmup) {
  for (int i = 0; i < warmup; i++) f();
  std::vector<double> us;
  for (int i = 0; i < reps; i++) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

void Bench::addBandwidth(const std::string& name, const std::string& shape, double micros, double bytes, const std::string& note) {
  results.push_back({name, shape, micros, bytes / micros / 1e3, "GB/s", copyGBs, note});
  const Result& r = results.back();
  std::printf("  %-34s %-28s %10.1f us %9.1f %s (%.0f%% of copy)  %s\n", r.name.c_str(), r.shape.c_str(), r.micros, r.rate,
              r.unit.c_str(), copyGBs > 0 ? 100.0 * r.rate / copyGBs : 0.0, note.c_str());
  std::fflush(stdout);
}

void Bench::addCompute(const std::string& name, const std::string& shape, double micros, double flops, const std::string& note) {
  results.push_back({name, shape, micros, flops / micros / 1e6, "TFLOP/s", gemmTFs, note});
  const Result& r = results.back();
  std::printf("  %-34s %-28s %10.1f us %9.1f %s (%.0f%% of GEMM)  %s\n", r.name.c_str(), r.shape.c_str(), r.micros, r.rate,
              r.unit.c_str(), gemmTFs > 0 ? 100.0 * r.rate / gemmTFs : 0.0, note.c_str());
  std::fflush(stdout);
}

void Bench::addTime(const std::string& name, const std::string& shape, double micros, const std::string& note) {
  results.push_back({name, shape, micros, 0, "", 0, note});
  std::printf("  %-34s %-28s %10.1f us  %s\n", name.c_str(), shape.c_str(), micros, note.c_str());
  std::fflush(stdout);
}

void Bench::printTable() const {
  std::printf("\n| kernel | shape | time (us) | achieved | of ceiling | note |\n|---|---|---:|---:|---:|---|\n");
  for (const Result& r : results) {
    char rate[64] = "", share[32] = "";
    if (!r.unit.empty()) std::snprintf(rate, sizeof rate, "%.1f %s", r.rate, r.unit.c_str());
    if (r.ceiling > 0) std::snprintf(share, sizeof share, "%.0f%%", 100.0 * r.rate / r.ceiling);
    std::printf("| %s | %s | %.1f | %s | %s | %s |\n", r.name.c_str(), r.shape.c_str(), r.micros, rate, share, r.note.c_str());
  }
  std::printf("\nceilings: copy %.0f GB/s (read + write), bf16 GEMM %.0f TFLOP/s\n", copyGBs, gemmTFs);
}

void* Bench::deviceAlloc(size_t bytes) {
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes));
  allocations_.push_back(p);
  return p;
}

void Bench::fillRandom(void* p, DType dtype, int64_t n, uint64_t seed, float offset, float scale) {
  cuda::launchRandomWeight(p, dtype, n, seed, offset, scale, b.stream());
  b.synchronize();
}

Bench::~Bench() {
  b.synchronize();
  for (void* p : allocations_) cudaFree(p);
}

// The backend's own ceilings (CudaBackend::measureCeilings), the ones the engine's benchmarks use.
void measureCeilings(Bench& bench) {
  const DeviceCeilings c = bench.b.measureCeilings();
  bench.copyGBs = c.copyBytesPerSecond / 1e9;
  bench.gemmTFs = c.matmulFlopsPerSecond / 1e12;
  std::printf("ceilings: device-to-device copy of 1 GiB = %.0f GB/s (read + write); %s = %.0f TFLOP/s\n", bench.copyGBs,
              c.matmulShape.c_str(), bench.gemmTFs);
}

}  // namespace pagedinfer::bench

using namespace pagedinfer;
using namespace pagedinfer::bench;

int main(int argc, char** argv) {
  std::string only;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) only = argv[++i];
    else {
      std::cerr << "usage: pagedinfer_kernel_bench [--only attention,prefill,gemm,gemm-candidates,gemv,sampling,model,model1]\n";
      return 2;
    }
  }
  auto want = [&](const char* name) { return only.empty() || ("," + only + ",").find(std::string(",") + name + ",") != std::string::npos; };
  try {
    CudaBackend::DeviceInfo info = CudaBackend::probe(0);
    if (!info.available) {
      std::cout << "SKIP: " << info.reason << "\n";
      return 77;
    }
    CudaBackend backend(0, CudaBackend::Options{false});
    std::cout << backend.describe() << "\n";
    Bench bench(backend);
    measureCeilings(bench);
    if (want("attention")) benchDecodeAttention(bench);
    if (want("prefill")) benchPrefillAttention(bench);
    if (want("gemm")) benchGemm(bench);
    if (!only.empty() && want("gemm-candidates")) benchGemmCandidates(bench);
    if (want("gemv")) benchGemv(bench);
    if (want("sampling")) benchSampling(bench);
    if (want("model")) benchModelDecode(bench, false);
    else if (want("model1")) benchModelDecode(bench, true);
    bench.printTable();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
