// Maps native exceptions to JS errors with a stable `code` (lib/native.ts turns each code into a
// typed error of lib/errors.ts).
#pragma once
#include <napi.h>

#include <exception>

namespace pagedinfer {

// The code for an exception: ERR_MODEL_FORMAT, ERR_INVALID_ARGUMENT, ERR_OUT_OF_MEMORY, ERR_DEVICE, ERR_NATIVE.
const char* errorCode(const std::exception& e);
Napi::Error toJsError(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace pagedinfer
