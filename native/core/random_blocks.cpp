#include "random_blocks.h"

#include <cstring>

#include "random.h"

namespace pagedinfer {

void fillRandomBlocks(DType t, void* dst, int64_t first, int64_t blocks, uint64_t seed, float magnitude) {
  const int64_t blockBytes = dtypeBlockBytes(t);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < blocks; b++) {
    uint8_t* blk = out + b * blockBytes;
    const uint64_t base = uint64_t(first + b) * uint64_t(blockBytes);
    for (int64_t i = 0; i < blockBytes; i += 8) {
      uint64_t r = splitmix64(seed ^ splitmix64(base + uint64_t(i)));
      std::memcpy(blk + i, &r, size_t(blockBytes - i < 8 ? blockBytes - i : 8));
    }
    auto put16 = [](uint8_t* p, float v) {
      uint16_t h = floatToF16(v);
      std::memcpy(p, &h, 2);
    };
    // Largest |value| of each type is about scale x (the payload's range).
    switch (t) {
      case DType::Q8_0: put16(blk, magnitude / 127.0f); break;
      case DType::Q4_0: put16(blk, magnitude / 8.0f); break;
      case DType::Q4_K: case DType::Q5_K:
        put16(blk, magnitude / (63.0f * 31.0f));
        put16(blk + 2, magnitude / (63.0f * 31.0f));
        break;
      case DType::Q6_K: put16(blk + 208, magnitude / (128.0f * 32.0f)); break;
      default: break;
    }
  }
}

}  // namespace pagedinfer
