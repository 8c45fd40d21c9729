// NativeModel: the JS object around a core Model. Argument checking and async workers only; all
// work runs on the libuv pool, never on the JS thread. One load or other call at a time, or up to
// two steps (async scheduling: the second is enqueued while the first waits for its results).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "../core/model.h"
#include "step_order.h"

namespace pagedinfer {

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeModel(const Napi::CallbackInfo& info);
  ~NativeModel() override;

  Model* model() { return model_.get(); }
  StepOrder& stepOrder() { return stepOrder_; }
  // Set while a load or other worker uses the model; dispose() then waits for it to finish.
  std::atomic<bool> busy{false};
  void finishWork();
  void finishStep();

 private:
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value LoadDummy(const Napi::CallbackInfo& info);
  Napi::Value KvCacheBytesPerBlock(const Napi::CallbackInfo& info);
  Napi::Value InitKvCache(const Napi::CallbackInfo& info);
  Napi::Value ReserveWorkspace(const Napi::CallbackInfo& info);
  Napi::Value AvailableMemory(const Napi::CallbackInfo& info);
  Napi::Value WeightBytes(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value MeasureCeilings(const Napi::CallbackInfo& info);
  Napi::Value Warmup(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Model& requireIdle(Napi::Env env);

  void disposeIfRequested();

  std::unique_ptr<Model> model_;
  bool disposeRequested_ = false;
  // JS thread only: steps submitted and not yet settled, and the sampled rows of the last step
  // submitted (the bound of the next one's chainedTokens rows).
  int stepsInFlight_ = 0;
  int submittedRows_ = 0;
  StepOrder stepOrder_;
};

}  // namespace pagedinfer
