// Each addon (CPU, CUDA) links one implementation of this: the backend it runs on, and what it
// reports about the device.
#pragma once
#include <napi.h>

#include <memory>

#include "../core/backend.h"

namespace pagedinfer {

// `options` is the JS options object (threads, device, ...).
std::unique_ptr<Backend> createBackend(const Napi::Object& options);
// { name, available, reason, device, ... } for `pagedinfer info` and the loader.
Napi::Object backendInfo(Napi::Env env);

}  // namespace pagedinfer
