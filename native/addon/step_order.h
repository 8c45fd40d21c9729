// The order of a model's steps across worker threads (async scheduling). Each step gets a ticket
// on the JS thread when it is submitted; its worker then runs its enqueue phase only after every
// earlier ticket's enqueue phase, and its completion phase only after every earlier ticket's
// completion phase. So at most one thread enqueues on the model at a time (the per-model lock),
// step N+1 may be enqueued while step N waits for its results, and steps complete in order.
// Every ticket must pass both phases (a failed phase still counts), or later tickets wait forever.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace pagedinfer {

class StepOrder {
 public:
  enum Phase { kEnqueue = 0, kFinish = 1 };

  // Holds the phase for one ticket from construction to destruction.
  class Turn {
   public:
    Turn(StepOrder& order, Phase phase, uint64_t ticket) : order_(order), phase_(phase), ticket_(ticket) {
      std::unique_lock<std::mutex> lock(order_.mutex_);
      order_.changed_.wait(lock, [&] { return order_.done_[phase_] == ticket_; });
    }
    ~Turn() {
      {
        std::lock_guard<std::mutex> lock(order_.mutex_);
        order_.done_[phase_] = ticket_ + 1;
      }
      order_.changed_.notify_all();
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

   private:
    StepOrder& order_;
    Phase phase_;
    uint64_t ticket_;
  };

  // JS thread only. A ticket taken must be used (see above) unless given back at once.
  uint64_t take() { return next_++; }
  void giveBack() { next_--; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t done_[2] = {0, 0};  // tickets below this have passed the phase
  uint64_t next_ = 0;
};

}  // namespace pagedinfer
