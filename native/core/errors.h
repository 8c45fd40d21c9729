// Exceptions native code throws; the addon maps each to a JS error with a stable `code`
// (lib/native.ts turns that into the typed errors of lib/errors.ts).
#pragma once
#include <stdexcept>
#include <string>

namespace pagedinfer {

// A model file or tensor list is wrong: bad offset, size, dtype or shape.
struct ModelFormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A caller passed inconsistent arguments (a StepBatch index out of range, a bad option).
struct InvalidArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A device or host allocation failed.
struct OutOfMemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The device reported an error that is not the caller's fault.
struct DeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace pagedinfer
