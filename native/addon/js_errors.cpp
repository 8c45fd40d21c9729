#include "js_errors.h"

#include <new>

#include "../core/errors.h"

namespace pagedinfer {

const char* errorCode(const std::exception& e) {
  if (dynamic_cast<const ModelFormatError*>(&e)) return "ERR_MODEL_FORMAT";
  if (dynamic_cast<const InvalidArgumentError*>(&e)) return "ERR_INVALID_ARGUMENT";
  if (dynamic_cast<const OutOfMemoryError*>(&e) || dynamic_cast<const std::bad_alloc*>(&e)) return "ERR_OUT_OF_MEMORY";
  if (dynamic_cast<const DeviceError*>(&e)) return "ERR_DEVICE";
  return "ERR_NATIVE";
}

Napi::Error toJsError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

}  // namespace pagedinfer
