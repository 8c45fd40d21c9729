#include "op_profile.h"

#include <algorithm>
#include <cstdlib>

namespace pagedinfer {

std::unique_ptr<OpProfile> OpProfile::fromEnv() {
  const char* path = std::getenv("PAGEDINFER_OP_PROFILE");
  if (!path || !*path) return nullptr;
  return std::make_unique<OpProfile>(path);
}

OpProfile::~OpProfile() {
  accumulate();
  write();
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

cudaEvent_t OpProfile::event(size_t i) {
  while (events_.size() <= i) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreate(&e) != cudaSuccess) return nullptr;
    events_.push_back(e);
  }
  return events_[i];
}

void OpProfile::beginStep(cudaStream_t stream, std::string kind) {
  if (open_) closeStep(stream);  // a step that never sampled: close it here
  accumulate();
  kind_ = std::move(kind);
  used_ = 0;
  labels_.clear();
  open_ = true;
  mark(stream, "step arrays");
}

void OpProfile::mark(cudaStream_t stream, std::string label) {
  if (!open_) return;
  cudaEvent_t e = event(used_);
  if (!e || cudaEventRecord(e, stream) != cudaSuccess) return;
  labels_.push_back(std::move(label));
  used_++;
}

void OpProfile::addHostTime(const std::string& label, double ms) {
  Stat& s = host_[label];
  s.count++;
  s.ms += ms;
}

void OpProfile::closeStep(cudaStream_t stream) {
  if (!open_) return;
  open_ = false;
  cudaEvent_t end = event(used_);
  pending_ = end && cudaEventRecord(end, stream) == cudaSuccess;
}

void OpProfile::accumulate() {
  if (!pending_) return;
  pending_ = false;
  if (cudaEventSynchronize(events_[used_]) != cudaSuccess) return;
  auto& ops = ops_[kind_];
  double total = 0;
  for (size_t i = 0; i < used_; i++) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, events_[i], events_[i + 1]) != cudaSuccess) continue;
    Stat& s = ops[labels_[i]];
    s.count++;
    s.ms += ms;
    total += ms;
  }
  Stat& t = stepTotals_[kind_];
  t.count++;
  t.ms += total;
  if (++steps_ % 32 == 0) write();
}

void OpProfile::write() const {
  FILE* f = std::fopen(path_.c_str(), "w");
  if (!f) return;
  std::fprintf(f, "# GPU time per op of each step kind (PAGEDINFER_OP_PROFILE), %ld steps\n", steps_);
  for (const auto& [kind, ops] : ops_) {
    const Stat& t = stepTotals_.at(kind);
    std::fprintf(f, "\n%s: %ld steps, %.3f ms per step\n", kind.c_str(), t.count, t.ms / std::max(1L, t.count));
    std::vector<std::pair<std::string, Stat>> rows(ops.begin(), ops.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    for (const auto& [op, s] : rows)
      std::fprintf(f, "  %-40s %8.3f ms/step %6.1f%%  (%ld calls)\n", op.c_str(), s.ms / std::max(1L, t.count),
                   100.0 * s.ms / std::max(1e-9, t.ms), s.count);
  }
  if (!host_.empty()) std::fprintf(f, "\nhost time outside the stream:\n");
  for (const auto& [label, s] : host_)
    std::fprintf(f, "  %-40s %8.3f ms total, %ld calls, %.3f ms each\n", label.c_str(), s.ms, s.count, s.ms / std::max(1L, s.count));
  std::fclose(f);
}

}  // namespace pagedinfer
