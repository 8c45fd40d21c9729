// The CPU's measured ceilings for benchmark rooflines: copy bandwidth with all threads, and the
// rate of this backend's own float32 matmul at a prefill-like shape (the best the CPU path does).
#include <chrono>
#include <cstring>
#include <vector>

#include "cpu_backend.h"

namespace pagedinfer {

namespace {

template <typename F>
double bestSeconds(int repeats, F&& run) {
  double best = 1e30;
  for (int i = 0; i < repeats; i++) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  return best;
}

}  // namespace

DeviceCeilings CpuBackend::measureCeilings() {
  DeviceCeilings c;
  const size_t bytes = size_t(256) << 20;  // well beyond any cache
  std::vector<uint8_t> src(bytes, 1), dst(bytes, 2);
  const int64_t chunks = pool_->size() * 4;
  double copy = bestSeconds(5, [&] {
    pool_->parallelFor(chunks, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) {
        size_t begin = bytes * size_t(i) / size_t(chunks), end = bytes * size_t(i + 1) / size_t(chunks);
        std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
      }
    });
  });
  c.copyBytesPerSecond = 2.0 * double(bytes) / copy;

  const int64_t M = 256, K = 2048, N = 2048;
  std::vector<float> x(size_t(M * K), 0.5f), w(size_t(N * K), 0.25f), out(size_t(M * N));
  Tensor xt{x.data(), DType::F32, M, K}, ot{out.data(), DType::F32, M, N};
  Weight wt{w.data(), DType::F32, N, K};
  double mm = bestSeconds(3, [&] { matmul(ot, xt, wt, nullptr); });
  c.matmulFlopsPerSecond = 2.0 * double(M) * double(K) * double(N) / mm;
  c.matmulShape = "f32 256x2048x2048 (this backend's matmul)";
  return c;
}

}  // namespace pagedinfer
