// NativeModel: the JS object around a core Model. Argument checking and async workers only; all
// work runs on the libuv pool, never on the JS thread.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "../core/model.h"

namespace pagedinfer {

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeModel(const Napi::CallbackInfo& info);
  ~NativeModel() override;

  Model* model() { return model_.get(); }
  // Set while a worker uses the model; dispose() then waits for it to finish.
  std::atomic<bool> busy{false};
  void finishWork();

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

  std::unique_ptr<Model> model_;
  bool disposeRequested_ = false;
};

}  // namespace pagedinfer
