// Module entry: the NativeModel class and what this addon knows about its device.
#include <napi.h>

#include "backend_factory.h"
#include "model_wrap.h"

namespace pagedinfer {

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeModel", NativeModel::Init(env));
  exports.Set("backendInfo", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return backendInfo(info.Env());
  }));
  exports.Set("abiVersion", Napi::Number::New(env, 2));  // 2: chainedTokens, two steps in flight
  return exports;
}

}  // namespace pagedinfer

static Napi::Object InitPagedInfer(Napi::Env env, Napi::Object exports) { return pagedinfer::InitModule(env, exports); }

NODE_API_MODULE(pagedinfer, InitPagedInfer)
