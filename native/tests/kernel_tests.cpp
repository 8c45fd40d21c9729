// Entry point and shared harness of the native kernel tests:
//   pagedinfer_kernel_tests [--backend cpu|cuda] [--seed N] [--filter SUBSTRING] [--list]
// Prints one line per case, "PASS name" or "FAIL name: what", and exits non-zero on any failure.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

#include "core/errors.h"
#include "core/quant.h"
#include "cpu/cpu_backend.h"
#include "harness.h"

#ifdef PAGEDINFER_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace pagedinfer::test {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> cases;
  return cases;
}

const StepView& TestStep::finish(bool withSampling) {
  host = StepView{};
  host.numTokens = int(tokenIds.size());
  host.numSeqs = int(seqLens.size());
  host.maxBlocksPerSeq = maxBlocksPerSeq;
  host.numLogitRows = int(logitRows.size());
  host.numBlockCopies = int(blockCopies.size() / 2);
  host.tokenIds = tokenIds.data();
  host.positions = positions.data();
  host.queryStart = queryStart.data();
  host.seqLens = seqLens.data();
  host.blockTable = blockTable.data();
  host.slotMapping = slotMapping.data();
  host.logitRows = logitRows.data();
  host.blockCopies = blockCopies.data();
  if (withSampling) {
    sampling = SamplingView{};
    sampling.temperature = temperature.data();
    sampling.topK = topK.data();
    sampling.topP = topP.data();
    sampling.minP = minP.data();
    sampling.repetitionPenalty = repetitionPenalty.data();
    sampling.presencePenalty = presencePenalty.data();
    sampling.frequencyPenalty = frequencyPenalty.data();
    sampling.seeds = seeds.data();
    sampling.outputIndex = outputIndex.data();
    sampling.numLogprobs = numLogprobs.data();
    sampling.penaltyTokens = penaltyTokens.data();
    sampling.penaltyOffsets = penaltyOffsets.data();
    sampling.penaltyPromptLens = penaltyPromptLens.data();
    sampling.numPenaltyTokens = int(penaltyTokens.size());
    host.sampling = &sampling;
  }
  return host;
}

Harness::Harness(std::unique_ptr<Backend> backend, uint64_t seed, std::string backendName)
    : backend_(std::move(backend)), backendName_(std::move(backendName)), rng_(seed) {}

std::unique_ptr<Backend> makeBackend(const std::string& name, bool graphs) {
  if (name == "cpu") return std::make_unique<CpuBackend>(0);
#ifdef PAGEDINFER_WITH_CUDA
  if (name == "cuda") return std::make_unique<CudaBackend>(0, CudaBackend::Options{graphs});
#endif
  (void)graphs;
  throw std::runtime_error("backend '" + name + "' is not built into this test binary");
}

Harness::~Harness() {
  for (Weight& w : weights_) backend_->releaseWeight(w);
  for (void* p : allocations_) backend_->release(p);
}

Vec Harness::randomVec(size_t n, double lo, double hi) {
  Vec v(n);
  for (double& x : v) x = uniform(lo, hi);
  return v;
}

double Harness::tolerance() const { return backend_->activationType() == DType::F32 ? 2e-5 : 2e-2; }

static std::vector<uint8_t> encodeActivations(DType dtype, const Vec& values) {
  std::vector<uint8_t> bytes(values.size() * (dtype == DType::F32 ? 4 : 2));
  for (size_t i = 0; i < values.size(); i++) {
    if (dtype == DType::F32) {
      float f = float(values[i]);
      std::memcpy(&bytes[i * 4], &f, 4);
    } else {
      uint16_t h = dtype == DType::BF16 ? floatToBf16(float(values[i])) : floatToF16(float(values[i]));
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

static Vec decodeActivations(DType dtype, const std::vector<uint8_t>& bytes, size_t n) {
  std::vector<float> f(n);
  dequantizeRow(dtype, bytes.data(), f.data(), int64_t(n));
  return Vec(f.begin(), f.end());
}

Tensor Harness::tensor(int64_t rows, int64_t cols, const Vec& values, DType dtype) {
  std::vector<uint8_t> bytes = encodeActivations(dtype, values);
  void* p = backend_->alloc(bytes.size());
  allocations_.push_back(p);
  backend_->upload(p, bytes.data(), bytes.size());
  return Tensor{p, dtype, rows, cols};
}

Tensor Harness::poisoned(int64_t rows, int64_t cols, DType dtype) {
  Vec nan(size_t(rows * cols), NAN);
  std::vector<uint8_t> bytes = encodeActivations(dtype, nan);
  void* p = backend_->alloc(bytes.size());
  allocations_.push_back(p);
  backend_->upload(p, bytes.data(), bytes.size());
  return Tensor{p, dtype, rows, cols};
}

Vec Harness::fetch(const Tensor& t) {
  size_t n = size_t(t.rows * t.cols);
  std::vector<uint8_t> bytes(n * (t.dtype == DType::F32 ? 4 : 2));
  backend_->download(bytes.data(), t.data, bytes.size());
  return decodeActivations(t.dtype, bytes, n);
}

Vec Harness::roundTrip(const Vec& values) {
  DType dtype = backend_->activationType();
  return decodeActivations(dtype, encodeActivations(dtype, values), values.size());
}

TestWeight Harness::weight(DType dtype, int64_t rows, int64_t cols, bool asMatrix) {
  const int64_t rowBytes = dtypeRowBytes(dtype, cols);
  std::vector<uint8_t> bytes(size_t(rows * rowBytes));
  auto f16 = [&](double lo, double hi) { return floatToF16(float(uniform(lo, hi))); };
  auto put16 = [&](uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); };
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : bytes) b = uint8_t(byte(rng_));  // quantized payloads: any bits are valid
  const int64_t blocks = rows * cols / dtypeBlockElems(dtype);
  const int64_t blockBytes = dtypeBlockBytes(dtype);
  for (int64_t i = 0; i < blocks; i++) {
    uint8_t* b = bytes.data() + i * blockBytes;
    switch (dtype) {
      case DType::F32: {
        float f = float(uniform(-1, 1));
        std::memcpy(b, &f, 4);
        break;
      }
      case DType::F16: put16(b, floatToF16(float(uniform(-1, 1)))); break;
      case DType::BF16: put16(b, floatToBf16(float(uniform(-1, 1)))); break;
      case DType::Q8_0: put16(b, f16(0.002, 0.01)); break;
      case DType::Q4_0: put16(b, f16(0.02, 0.15)); break;
      case DType::Q4_K: case DType::Q5_K:
        put16(b, f16(0.001, 0.005));
        put16(b + 2, f16(0.001, 0.005));
        break;
      case DType::Q6_K: put16(b + 208, f16(0.0005, 0.002)); break;
    }
  }
  Vec values(size_t(rows * cols));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; r++) {
    dequantizeRow(dtype, bytes.data() + r * rowBytes, row.data(), cols);
    for (int64_t c = 0; c < cols; c++) values[r * cols + c] = row[c];
  }
  hostBytes_.push_back(std::move(bytes));
  HostTensor host{"test", hostBytes_.back().data(), hostBytes_.back().size(), dtype,
                  rows > 1 || asMatrix ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{cols}};
  Weight w = backend_->loadWeight(host, asMatrix);
  weights_.push_back(w);
  return TestWeight{w, values};
}

void Harness::expectClose(const std::string& what, const Vec& out, const Vec& ref, double tol) {
  double num = 0, den = 0;
  bool finite = out.size() == ref.size();
  for (size_t i = 0; i < out.size() && i < ref.size(); i++) {
    if (!std::isfinite(out[i])) finite = false;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  double rel = std::sqrt(num / (den > 0 ? den : 1));
  std::ostringstream detail;
  detail << "relative error " << rel << " (tolerance " << tol << ")" << (finite ? "" : ", non-finite or missing outputs");
  expect(what, finite && rel <= tol, detail.str());
}

void Harness::expect(const std::string& what, bool ok, const std::string& detail) {
  if (ok) return;
  failures_++;
  std::cout << "  " << caseName_ << " / " << what << ": " << detail << "\n";
}

}  // namespace pagedinfer::test

using namespace pagedinfer;
using namespace pagedinfer::test;

int main(int argc, char** argv) {
  std::string backendName = "cpu", filter;
  uint64_t seed = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  bool list = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--backend" && i + 1 < argc) backendName = argv[++i];
    else if (a == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--list") list = true;
    else {
      std::cerr << "usage: pagedinfer_kernel_tests [--backend cpu|cuda] [--seed N] [--filter S] [--list]\n";
      return 2;
    }
  }
  if (list) {
    for (const TestCase& c : registry()) std::cout << c.name << "\n";
    return 0;
  }
  try {
    makeBackend(backendName);
  } catch (const DeviceError& e) {  // no device or driver here: skipped (ctest SKIP_RETURN_CODE), not failed
    std::cout << "SKIP backend " << backendName << ": " << e.what() << "\n";
    return 77;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  std::cout << "backend " << backendName << ", seed " << seed << "\n";
  int failed = 0, passed = 0;
  for (const TestCase& c : registry()) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    // A fresh backend per case keeps the cases independent (and the KV cache per test).
    Harness h(makeBackend(backendName), seed ^ std::hash<std::string>{}(c.name), backendName);
    h.beginCase(c.name);
    try {
      c.run(h);
    } catch (const std::exception& e) {
      h.expect("exception", false, e.what());
    }
    if (h.failures()) {
      failed++;
      std::cout << "FAIL " << c.name << "\n";
    } else {
      passed++;
      std::cout << "PASS " << c.name << "\n";
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}
