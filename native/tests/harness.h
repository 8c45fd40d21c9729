// The kernel test harness: builds random inputs, runs one backend's op, and compares it with the
// plain reference (reference_ops.h) by relative error. Outputs are poisoned (NaN) before each op
// so an element the kernel never wrote fails the check. Inputs are fresh random draws every run;
// the seed is printed so a failure can be replayed with --seed.
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "reference_ops.h"

namespace pagedinfer::test {

using ref::Vec;

struct TestCase {
  std::string name;
  std::function<void(class Harness&)> run;
};

// A fresh backend of the named kind ("cpu", "cuda"); graphs=false turns off recorded decode graphs.
std::unique_ptr<Backend> makeBackend(const std::string& name, bool graphs = true);

// Each test file registers its cases here.
std::vector<TestCase>& registry();
struct Register {
  Register(const std::string& name, std::function<void(Harness&)> fn) { registry().push_back({name, std::move(fn)}); }
};

// Weights made for a test: the bytes in their storage type (kept alive) and their float values.
struct TestWeight {
  Weight weight;
  Vec values;  // dequantized, [rows * cols]
};

// Host copy of a step's index arrays; beginStep() gives the device view.
struct TestStep {
  std::vector<int32_t> tokenIds, positions, queryStart, seqLens, blockTable, slotMapping, logitRows, blockCopies;
  int maxBlocksPerSeq = 0;
  StepView host;
  SamplingView sampling;
  std::vector<float> temperature, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty;
  std::vector<int32_t> topK, outputIndex, numLogprobs, penaltyTokens, penaltyOffsets, penaltyPromptLens;
  std::vector<uint32_t> seeds;
  // Fills `host` (and `sampling` when withSampling) from the vectors.
  const StepView& finish(bool withSampling = false);
};

class Harness {
 public:
  Harness(std::unique_ptr<Backend> backend, uint64_t seed, std::string backendName = "cpu");
  ~Harness();
  Backend& backend() { return *backend_; }
  const std::string& backendName() const { return backendName_; }
  std::mt19937_64& rng() { return rng_; }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  int randint(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }  // inclusive
  Vec randomVec(size_t n, double lo = -1, double hi = 1);

  // Relative tolerance for results computed from activations of the backend's type.
  double tolerance() const;
  // An activation tensor with these values (converted to the backend's activation type).
  Tensor tensor(int64_t rows, int64_t cols, const Vec& values) { return tensor(rows, cols, values, backend_->activationType()); }
  Tensor tensor(int64_t rows, int64_t cols, const Vec& values, DType dtype);
  // An activation tensor of NaNs.
  Tensor poisoned(int64_t rows, int64_t cols, DType dtype);
  Tensor poisoned(int64_t rows, int64_t cols) { return poisoned(rows, cols, backend_->activationType()); }
  Vec fetch(const Tensor& t);
  // The values an activation tensor really holds after conversion (what the kernel sees).
  Vec roundTrip(const Vec& values);
  TestWeight weight(DType dtype, int64_t rows, int64_t cols, bool asMatrix);

  // Records a comparison: pass when ||out - ref|| / ||ref|| <= tol and nothing is NaN.
  void expectClose(const std::string& what, const Vec& out, const Vec& ref, double tol);
  void expect(const std::string& what, bool ok, const std::string& detail = "");
  int failures() const { return failures_; }
  void beginCase(const std::string& name) { caseName_ = name; }

 private:
  std::unique_ptr<Backend> backend_;
  std::string backendName_;
  std::mt19937_64 rng_;
  std::list<std::vector<uint8_t>> hostBytes_;  // weight bytes the backend may use in place
  std::vector<void*> allocations_;
  std::vector<Weight> weights_;
  int failures_ = 0;
  std::string caseName_;
};

}  // namespace pagedinfer::test
