// A fixed pool of worker threads: the CPU kernels, and the CUDA backend's copies of weights into
// its pinned staging buffers. parallelFor splits [0, n) into chunks that the workers and the
// calling thread take from a shared counter, and returns when all are done.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pagedinfer {

class ThreadPool {
 public:
  explicit ThreadPool(int numThreads);  // total threads, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  // Calls fn(begin, end) over chunks of at most `grain` items covering [0, n).
  void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void workerLoop();
  void runChunks(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int64_t grain);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  int busy_ = 0;
  // The job in progress.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::mutex jobMutex_;  // one parallelFor at a time
};

}  // namespace pagedinfer
