// The CPU addon's backend.
#include <thread>

#include "../cpu/cpu_backend.h"
#include "backend_factory.h"

namespace pagedinfer {

std::unique_ptr<Backend> createBackend(const Napi::Object& options) {
  int threads = 0;
  Napi::Value t = options.Get("threads");
  if (t.IsNumber()) threads = t.As<Napi::Number>().Int32Value();
  return std::make_unique<CpuBackend>(threads);
}

Napi::Object backendInfo(Napi::Env env) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("name", "cpu");
  info.Set("available", true);
  info.Set("simd", CpuBackend::simdLevel());
  info.Set("cores", double(std::thread::hardware_concurrency()));
  return info;
}

}  // namespace pagedinfer
