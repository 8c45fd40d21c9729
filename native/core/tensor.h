// The two kinds of arrays the forward pass handles: activations (owned by the model's workspace,
// on the backend's device, rows x cols) and weights (held by the backend in their storage type).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include "dtype.h"

namespace pagedinfer {

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  // Elements from the start of one row to the next; 0 means cols (packed rows). Only a backend
  // that fuses projections (Backend::fusesProjections) is handed views with a wider stride.
  int64_t stride = 0;
  int64_t ld() const { return stride > 0 ? stride : cols; }
  bool packed() const { return ld() == cols; }
  // A view of the first n rows (a step uses the front of buffers sized for the largest step).
  Tensor firstRows(int64_t n) const { return Tensor{data, dtype, n, cols, stride}; }
  // Columns [c0, c0 + n) of every row, as a strided view (activation types only: F32, F16, BF16).
  Tensor columns(int64_t c0, int64_t n) const {
    return Tensor{static_cast<uint8_t*>(data) + c0 * dtypeRowBytes(dtype, 1), dtype, rows, n, ld()};
  }
  float* f32() const { return static_cast<float*>(data); }
};

// A weight as a backend holds it: a matrix of `rows` output features by `cols` inputs (a vector
// has rows == 1), row-major, in `dtype`, on the backend's device.
struct Weight {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  bool present() const { return data != nullptr; }
  size_t bytes() const { return size_t(rows) * size_t(dtypeRowBytes(dtype, cols)); }
};

// A weight tensor as it lies in a (memory-mapped) file, after the loader checked its bounds.
struct HostTensor {
  std::string name;
  const void* data = nullptr;
  size_t bytes = 0;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first
};

}  // namespace pagedinfer
