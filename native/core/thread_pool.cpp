#include "thread_pool.h"

#include <algorithm>

namespace pagedinfer {

ThreadPool::ThreadPool(int numThreads) {
  for (int i = 1; i < std::max(numThreads, 1); i++) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::runChunks(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int64_t grain) {
  for (;;) {
    int64_t begin = next_.fetch_add(grain);
    if (begin >= n) return;
    fn(begin, std::min(begin + grain, n));
  }
}

void ThreadPool::workerLoop() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n, grain;
    {
      // The job is read under the lock together with busy_++, so the caller cannot move on to
      // another job while this worker still holds this one.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (!fn_) continue;  // woke after the job ended
      fn = fn_;
      n = n_;
      grain = grain_;
      busy_++;
    }
    runChunks(*fn, n, grain);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_all();
    }
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || n <= grain) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> job(jobMutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    n_ = n;
    grain_ = grain;
    next_.store(0);
    generation_++;
  }
  wake_.notify_all();
  runChunks(fn, n, grain);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return busy_ == 0; });
  fn_ = nullptr;
}

}  // namespace pagedinfer
