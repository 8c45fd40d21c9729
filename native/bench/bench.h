// The kernel benchmark's shared pieces: device timing, the results table, and the two ceilings
// every number is quoted against (a device-to-device copy and a large bf16 cuBLASLt GEMM, measured
// in the same run).
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "cuda/cuda_backend.h"

namespace pagedinfer::bench {

struct Result {
  std::string name, shape;
  double micros = 0;  // median time of one call
  double rate = 0;    // GB/s or TFLOP/s
  std::string unit;   // "GB/s" or "TFLOP/s"
  double ceiling = 0;
  std::string note;
};

class Bench {
 public:
  explicit Bench(CudaBackend& backend) : b(backend) {}
  CudaBackend& b;
  double copyGBs = 0, gemmTFs = 0;
  std::vector<Result> results;
  // Microseconds that `bytes` take at the measured copy rate, `flops` at the measured GEMM rate:
  // the two sides of a kernel's roofline.
  double bytesMicros(double bytes) const { return bytes / (copyGBs * 1e3); }
  double flopsMicros(double flops) const { return flops / (gemmTFs * 1e6); }

  // Median device time (events on the backend's stream) of f over reps calls, after warm-up calls.
  double medianMicros(const std::function<void()>& f, int reps = 20, int warmup = 3);
  // Median host wall time (f synchronises itself).
  double medianHostMicros(const std::function<void()>& f, int reps = 20, int warmup = 3);
  void addBandwidth(const std::string& name, const std::string& shape, double micros, double bytes, const std::string& note = "");
  void addCompute(const std::string& name, const std::string& shape, double micros, double flops, const std::string& note = "");
  void addTime(const std::string& name, const std::string& shape, double micros, const std::string& note = "");
  void printTable() const;
  // Device memory freed at the end of the run.
  void* deviceAlloc(size_t bytes);
  void fillRandom(void* p, DType dtype, int64_t n, uint64_t seed, float offset, float scale);
  ~Bench();

 private:
  std::vector<void*> allocations_;
};

// Copies of a weight of `bytes` that, called in turn, make each call read its weight from HBM:
// together more than twice the L2.
inline int copiesPastL2(double bytes) {
  const double rotateBytes = double(size_t(256) << 20);
  return std::max(1, int(std::ceil(rotateBytes / bytes)));
}

void measureCeilings(Bench& bench);
void benchDecodeAttention(Bench& bench);
void benchPrefillAttention(Bench& bench);
void benchGemm(Bench& bench);
void benchGemmCandidates(Bench& bench);
void benchGemv(Bench& bench);
void benchSampling(Bench& bench);
// batch1Only: one configuration, the default batch-1 decode (and not the step without attention).
void benchModelDecode(Bench& bench, bool batch1Only);

}  // namespace pagedinfer::bench
