// Host-side launchers of the CUDA kernels, one group per kernel file. Activations are bf16
// (passed as uint16_t so this header stays plain C++ for the backend's .cpp files); every
// launcher enqueues on `stream` and checks the launch (DeviceError on failure).
#pragma once
#include <atomic>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "../core/dtype.h"

namespace pagedinfer::cuda {

// --- weights.cu: conversion, repacking, random weights, embedding, dequantization ------------
void launchConvertF32ToBf16(const float* src, uint16_t* dst, int64_t n, cudaStream_t stream);
// GGUF Q8_0 rows -> the device layout of quant_device.cuh ([K int8][K/32 half] per row).
void launchRepackQ8_0(const uint8_t* raw, uint8_t* dst, int64_t rows, int64_t K, cudaStream_t stream);
// dst[i] = offset + scale * (2 * uniform01(seed, i) - 1) in F32, F16 or BF16 (as the CPU backend).
void launchRandomWeight(void* dst, DType dtype, int64_t n, uint64_t seed, float offset, float scale, cudaStream_t stream);
// dst[r][k] (bf16) = weight rows [0, rows) dequantized; K % 32 == 0.
// Rows of a non-bf16 weight dequantized at a time for the prefill GEMM (about 64 MB of bf16).
inline int64_t dequantChunkRows(int64_t K) {
  const int64_t rows = (int64_t(32) << 20) / K / 128 * 128;
  return rows > 128 ? rows : 128;
}
void launchDequantRows(DType dtype, const uint8_t* w, int64_t rows, int64_t K, uint16_t* dst, cudaStream_t stream);
void launchEmbedding(uint16_t* out, const int32_t* tokenIds, int numTokens, const void* table, DType dtype, int64_t K,
                     cudaStream_t stream);

// --- chained_tokens.cu: async scheduling (Backend::overlapsSteps) -----------------------------
struct SampleRowResult;  // sampling.h
// ids[r] = the sampled token of row r, or -1 for a row flagged for the host sampler (status != 0).
void launchKeepSampledTokens(const SampleRowResult* results, int rows, int32_t* ids, cudaStream_t stream);
// tokenIds[pairs[2i]] = ids[pairs[2i + 1]] for i < numPairs; -1 is written as token 0.
void launchGatherChainedTokens(int32_t* tokenIds, const int32_t* pairs, int numPairs, const int32_t* ids,
                               cudaStream_t stream);

// --- programmatic dependent launch (pdl.cuh) ----------------------------------------------------
// On Hopper and later the decode chain's kernels (GEMV, norms, rope, decode attention) are
// launched so that each may start while its predecessor finishes; they wait for it on the device
// before reading its output. Process-wide: the backend turns it on for compute capability >= 9
// unless PAGEDINFER_CUDA_PDL=0; the benchmark toggles it to measure both.
inline std::atomic<bool>& programmaticLaunchFlag() {
  static std::atomic<bool> on{false};
  return on;
}

// --- gemv.cu: out[t] = W x[t] (+ bias) for up to kGemvMaxTokens tokens, any weight type -------
constexpr int kGemvMaxTokens = 8;
void launchGemv(void* out, bool outF32, int64_t ldOut, const uint16_t* x, int T, int64_t K, const void* w, DType dtype,
                int64_t N, const float* bias, cudaStream_t stream);

// --- gemv_dense.cu: bf16 / f16 weights (K % 8 == 0) --------------------------------------------
// Several weights that share their input (q, k, v) as one launch: each segment's rows write to
// their own output. Every weight has the same dtype and K.
constexpr int kGemvMaxSegments = 3;
struct GemvSegment {
  const void* w = nullptr;
  void* out = nullptr;
  const float* bias = nullptr;  // or null
  int64_t rows = 0, ldOut = 0;
};
struct GemvSegments {
  GemvSegment s[kGemvMaxSegments];
  int count = 0;
};
void launchGemvDense(const GemvSegments& segs, bool outF32, const uint16_t* x, int T, int64_t K, DType dtype,
                     cudaStream_t stream);
// out[t][n] = bf16(silu(bf16(gate[n] . x[t])) * bf16(up[n] . x[t])): the gate and up GEMVs and
// SwiGLU in one launch, rounding as the three separate ops do (the result is bit-identical).
void launchGemvSwiglu(uint16_t* out, int64_t ldOut, const uint16_t* x, int T, int64_t K, const void* gate,
                      const void* up, DType dtype, int64_t N, cudaStream_t stream);
// One token, the layer's RMSNorm folded in (Backend::fusesNorms): the two above with x =
// bf16(rmsnorm(residual) * norm) computed as each warp reads it, and out = bf16(residual +
// bf16(W x)) written into the residual for the o and down projections.
constexpr int64_t kGemvNormedMaxWidth = 16384;  // h in shared memory: 32 KB at most
void launchGemvDenseNormed(const GemvSegments& segs, bool outF32, const uint16_t* residual, const float* norm, float eps,
                           int64_t K, DType dtype, cudaStream_t stream);
void launchGemvSwigluNormed(uint16_t* out, const uint16_t* residual, const float* norm, float eps, int64_t K,
                            const void* gate, const void* up, DType dtype, int64_t N, cudaStream_t stream);
void launchGemvIntoResidual(uint16_t* residual, const uint16_t* x, int64_t K, const void* w, DType dtype, int64_t N,
                            cudaStream_t stream);

// --- elementwise.cu ----------------------------------------------------------------------------
void launchAddBias(void* out, bool outF32, int64_t T, int64_t N, int64_t ldOut, const float* bias, cudaStream_t stream);
// out[rows][cols] (packed) = silu(gate) * up, row r of gate and up at r * ld: packed buffers
// (ld = cols) or the fused gate/up GEMM's output (up = gate + cols, ld = 2 cols).
void launchSwiglu(uint16_t* out, const uint16_t* gate, const uint16_t* up, int64_t rows, int64_t cols, int64_t ld,
                  cudaStream_t stream);

// --- norm.cu ----------------------------------------------------------------------------------
// out = rmsnorm(x) * w; with `residual`: residual += x first and the sum is normalised.
void launchRmsnorm(uint16_t* out, uint16_t* residual, const uint16_t* x, const float* w, int rows, int n, float eps,
                   cudaStream_t stream);
// In place on each head of each row; rows are ld elements apart.
void launchHeadRmsnorm(uint16_t* x, int rows, int64_t ld, int heads, int headDim, const float* w, float eps,
                       cudaStream_t stream);
void launchFinalNorm(uint16_t* out, const uint16_t* residual, const uint16_t* x, const int32_t* rows, int numRows, int n,
                     const float* w, float eps, cudaStream_t stream);

// --- rope_cache.cu ----------------------------------------------------------------------------
// The paged KV cache of one layer: K and V each [numBlocks][numKvHeads][blockSize][headDim] bf16.
struct KvLayer {
  uint16_t* k = nullptr;
  uint16_t* v = nullptr;
  int blockSize = 16, numKvHeads = 0, headDim = 0;
};
// tokenList: the rows to process (numTokens of them), or null for rows 0 .. numTokens - 1.
void launchRopeCacheWrite(uint16_t* q, uint16_t* k, const uint16_t* v, int64_t qStride, int64_t kStride, int64_t vStride,
                          const int32_t* positions, const int32_t* slots, const int32_t* tokenList, int numTokens,
                          const float* invFreq, int rotaryDim, bool neox, int numHeads, const KvLayer& kv,
                          cudaStream_t stream);
// Whether the 16-byte rope path (rope_device.cuh) takes these shapes; the decode attention kernel
// rotates its tokens itself only then.
bool ropeVectorized(int headDim, int rotaryDim, int64_t qStride, int64_t kStride, int64_t vStride);
// For every (src, dst) pair and every layer: K and V of block dst = those of block src.
// `cache` is [layers][2][numBlocks][blockElems].
void launchCopyBlocks(uint16_t* cache, const int32_t* pairs, int numPairs, int numLayers, int numBlocks,
                      int64_t blockElems, cudaStream_t stream);

// --- attention_*.cu ---------------------------------------------------------------------------
struct AttentionArgs {
  uint16_t* out = nullptr;      // [tokens][numHeads * headDim]
  const uint16_t* q = nullptr;  // [tokens][qStride]
  int64_t qStride = 0, outStride = 0;
  KvLayer kv;
  const int32_t* positions = nullptr;
  const int32_t* tokenSeq = nullptr;
  const int32_t* seqLens = nullptr;
  const int32_t* blockTable = nullptr;
  int tableStride = 0;
  int numHeads = 0;
  float scale = 1.0f;
};
// Tensor-core kernels exist for these head sizes and GQA group sizes; anything else takes the
// plain fallback kernel.
bool decodeKernelSupports(int headDim, int group);
bool prefillKernelSupports(int headDim, int group);
// One query token per item, its context split into at most numParts partitions of partitionSize
// keys (a multiple of the variant's tile), or with partitionSize 0 of the smallest multiple of 64
// keys that covers that item's context in numParts; with numParts > 1 the last partition of each
// (item, kv head) combines them through `partials` (decodePartialFloats) and `arrivals` (decodeArrivalInts,
// zero before the first launch; the kernel leaves them zero).
// `variant` picks warps per CTA and pipeline depth (attention_decode.cu's kVariants; 0 default).
// Decode items: item i is token tokens[i] of sequence seqs[i] with contexts[i] keys (its
// position + 1, at most the sequence length; 0 for a graph bucket's padding).
struct DecodeItems {
  const int32_t* tokens = nullptr;
  const int32_t* seqs = nullptr;
  const int32_t* contexts = nullptr;
};
// The decode tokens' rotary embedding and cache write, done by the decode kernel itself when k is
// set: k and v are the projections' new rows (q is rotated as the kernel loads it, not in place),
// slots the step's slot mapping, invFreq the rotary table on the device. Needs ropeVectorized.
struct DecodeRope {
  const uint16_t* k = nullptr;
  const uint16_t* v = nullptr;
  int64_t kStride = 0, vStride = 0;
  const int32_t* slots = nullptr;
  const float* invFreq = nullptr;
  int rotaryDim = 0;
  bool neox = true;
};
void launchPagedDecode(const AttentionArgs& a, const DecodeItems& items, int numItems, int numParts, int partitionSize,
                       float* partials, int* arrivals, int variant, const DecodeRope& rope, cudaStream_t stream);
// Resident CTAs per SM of a decode variant, and the keys of its tile (partitions are multiples).
int decodeCtasPerSm(int headDim, int variant);
int decodeKeysPerTile(int variant);
int decodeVariantCount();
// Query tiles: (seq, tokenStart, tokenEnd, -) of at most 64 / group tokens each.
void launchPagedPrefill(const AttentionArgs& a, const int32_t* tiles, int numTiles, cudaStream_t stream);
void launchPagedFallback(const AttentionArgs& a, const int32_t* tokens, int numTokens, cudaStream_t stream);
inline size_t decodePartialFloats(int numItems, int numHeads, int numParts, int headDim) {
  return size_t(numItems) * numHeads * numParts * (headDim + 2);
}
inline size_t decodeArrivalInts(int numItems, int numKvHeads) { return size_t(numItems) * numKvHeads; }

}  // namespace pagedinfer::cuda
