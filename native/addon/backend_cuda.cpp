// The CUDA addon's backend. The CUDA runtime is linked statically, so this addon loads on a machine
// without a GPU or driver; backendInfo() then says why the backend is unavailable instead of the
// loader seeing a dlopen failure, and createBackend() throws a DeviceError with the same reason.
#include "../cuda/cuda_backend.h"
#include "backend_factory.h"

namespace pagedinfer {

std::unique_ptr<Backend> createBackend(const Napi::Object& options) {
  int device = 0;
  Napi::Value d = options.Get("device");
  if (d.IsNumber()) device = d.As<Napi::Number>().Int32Value();
  CudaBackend::Options o;
  Napi::Value graphs = options.Get("cudaGraphs");
  if (graphs.IsBoolean()) o.graphs = graphs.As<Napi::Boolean>().Value();
  return std::make_unique<CudaBackend>(device, o);
}

Napi::Object backendInfo(Napi::Env env) {
  const CudaBackend::DeviceInfo info = CudaBackend::probe(0);
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", "cuda");
  o.Set("available", info.available);
  if (!info.available) o.Set("reason", info.reason);
  o.Set("deviceCount", double(info.deviceCount));
  if (!info.name.empty()) {
    o.Set("device", info.name);
    o.Set("computeCapability", std::to_string(info.major) + "." + std::to_string(info.minor));
    o.Set("multiprocessors", double(info.multiprocessors));
    o.Set("totalMemory", double(info.totalMemory));
  }
  o.Set("driverVersion", double(info.driverVersion));
  o.Set("runtimeVersion", double(info.runtimeVersion));
  o.Set("cublasLt", info.cublasLt);
  return o;
}

}  // namespace pagedinfer
