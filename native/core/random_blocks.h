// Random quantized blocks for dummy weights of quantized types (benchmarks): payload bits from
// the counter RNG, scales set so values have roughly the requested magnitude.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace pagedinfer {

// Fills `blocks` storage blocks of type t (a quantized type) starting at block index `first`.
void fillRandomBlocks(DType t, void* dst, int64_t first, int64_t blocks, uint64_t seed, float magnitude);

}  // namespace pagedinfer
