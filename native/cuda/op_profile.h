// Where an eager step's GPU time goes, op by op (PAGEDINFER_OP_PROFILE=<file>): an event is
// recorded before each op, and when the step's results are back the gaps between events are
// added up per (step kind, op). Graph-replayed decode steps count as one "graph replay" op. The
// table is rewritten every 32 steps and when the backend goes away. A step's events are read when
// the next step begins, which waits for it: profiling serialises steps that would overlap.
#pragma once
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

namespace pagedinfer {

class OpProfile {
 public:
  // Null unless PAGEDINFER_OP_PROFILE names a file.
  static std::unique_ptr<OpProfile> fromEnv();
  explicit OpProfile(std::string path) : path_(std::move(path)) {}
  ~OpProfile();

  // A step begins; `kind` groups it in the table (e.g. "mixed 512").
  void beginStep(cudaStream_t stream, std::string kind);
  // The next op begins (its label names the op and, for matmuls, the matrix).
  void mark(cudaStream_t stream, std::string label);
  // Host time spent outside the GPU's stream (e.g. cuBLASLt's heuristic), reported apart.
  void addHostTime(const std::string& label, double ms);
  // The step's work is all enqueued: its end event (summed up when the next step begins).
  void closeStep(cudaStream_t stream);

 private:
  struct Stat {
    long count = 0;
    double ms = 0;
  };
  cudaEvent_t event(size_t i);
  void write() const;

  std::string path_;
  std::vector<cudaEvent_t> events_;
  std::vector<std::string> labels_;  // label of the op starting at event i
  size_t used_ = 0;
  std::string kind_;
  bool open_ = false, pending_ = false;
  void accumulate();
  long steps_ = 0;
  std::map<std::string, std::map<std::string, Stat>> ops_;  // kind -> op -> time
  std::map<std::string, Stat> stepTotals_;
  std::map<std::string, Stat> host_;
};

}  // namespace pagedinfer
