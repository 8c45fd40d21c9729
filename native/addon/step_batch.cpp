#include "step_batch.h"

#include <cmath>
#include <string>

#include "../core/errors.h"

namespace pagedinfer {

namespace {

[[noreturn]] void fail(const std::string& message) { throw InvalidArgumentError("StepBatch: " + message); }

template <typename T, napi_typedarray_type Kind>
const T* typedArray(const Napi::Object& obj, const char* field, size_t minLength) {
  Napi::Value v = obj.Get(field);
  if (!v.IsTypedArray()) fail(std::string(field) + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != Kind) fail(std::string(field) + " has the wrong element type");
  if (ta.ElementLength() < minLength)
    fail(std::string(field) + " has " + std::to_string(ta.ElementLength()) + " elements, needs " + std::to_string(minLength));
  if (ta.ElementLength() == 0) return nullptr;
  Napi::ArrayBuffer buffer = ta.ArrayBuffer();
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(buffer.Data()) + ta.ByteOffset());
}

const int32_t* int32s(const Napi::Object& obj, const char* field, size_t n) {
  return typedArray<int32_t, napi_int32_array>(obj, field, n);
}
const float* floats(const Napi::Object& obj, const char* field, size_t n) {
  return typedArray<float, napi_float32_array>(obj, field, n);
}
size_t lengthOf(const Napi::Object& obj, const char* field) {
  Napi::Value v = obj.Get(field);
  return v.IsTypedArray() ? v.As<Napi::TypedArray>().ElementLength() : 0;
}

int count(const Napi::Object& obj, const char* field) {
  Napi::Value v = obj.Get(field);
  if (!v.IsNumber()) fail(std::string(field) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 1e9 || d != std::floor(d)) fail(std::string(field) + " must be a non-negative integer");
  return int(d);
}

void readSampling(const Napi::Object& s, int rows, int vocab, SamplingView& v) {
  size_t n = size_t(rows);
  v.temperature = floats(s, "temperature", n);
  v.topK = int32s(s, "topK", n);
  v.topP = floats(s, "topP", n);
  v.minP = floats(s, "minP", n);
  v.repetitionPenalty = floats(s, "repetitionPenalty", n);
  v.presencePenalty = floats(s, "presencePenalty", n);
  v.frequencyPenalty = floats(s, "frequencyPenalty", n);
  v.seeds = typedArray<uint32_t, napi_uint32_array>(s, "seeds", 2 * n);
  v.outputIndex = int32s(s, "outputIndex", n);
  v.numLogprobs = int32s(s, "numLogprobs", n);
  v.penaltyOffsets = int32s(s, "penaltyOffsets", n + 1);
  v.penaltyPromptLens = int32s(s, "penaltyPromptLens", n);
  size_t numPenalty = lengthOf(s, "penaltyTokens");
  v.penaltyTokens = int32s(s, "penaltyTokens", 0);
  v.numPenaltyTokens = int(numPenalty);
  for (int r = 0; r < rows; r++) {
    float t = v.temperature[r], p = v.topP[r], m = v.minP[r], rep = v.repetitionPenalty[r];
    if (!(t >= 0) || !std::isfinite(t)) fail("temperature must be finite and >= 0");
    if (!(p > 0 && p <= 1)) fail("topP must be in (0, 1]");
    if (!(m >= 0 && m <= 1)) fail("minP must be in [0, 1]");
    if (!(rep > 0) || !std::isfinite(rep)) fail("repetitionPenalty must be finite and > 0");
    if (!std::isfinite(v.presencePenalty[r]) || !std::isfinite(v.frequencyPenalty[r])) fail("penalties must be finite");
    if (v.numLogprobs[r] < -1) fail("numLogprobs must be >= -1");
    int32_t begin = v.penaltyOffsets[r], end = v.penaltyOffsets[r + 1];
    if (begin < 0 || end < begin || size_t(end) > numPenalty) fail("penaltyOffsets out of range");
    if (v.penaltyPromptLens[r] < 0 || v.penaltyPromptLens[r] > end - begin) fail("penaltyPromptLens out of range");
  }
  for (size_t i = 0; i < numPenalty; i++)
    if (v.penaltyTokens[i] < 0 || v.penaltyTokens[i] >= vocab) fail("penaltyTokens holds an id outside the vocabulary");
}

// Optional (tokenIndex, prevRow) pairs: a token of this step that the previous step samples.
void readChainedTokens(const Napi::Object& b, int chainableRows, StepView& v) {
  v.numChainedTokens = 0;
  v.chainedTokens = nullptr;
  Napi::Value field = b.Get("chainedTokens");
  if (field.IsUndefined() || field.IsNull()) return;
  const size_t n = lengthOf(b, "chainedTokens");
  if (n % 2 != 0) fail("chainedTokens must hold (tokenIndex, prevRow) pairs");
  v.chainedTokens = int32s(b, "chainedTokens", 0);
  v.numChainedTokens = int(n / 2);
  for (int i = 0; i < v.numChainedTokens; i++) {
    const int32_t index = v.chainedTokens[2 * i], row = v.chainedTokens[2 * i + 1];
    if (index < 0 || index >= v.numTokens) fail("chainedTokens holds a token index outside the batch");
    if (row < 0 || row >= chainableRows)
      fail("chainedTokens holds row " + std::to_string(row) + ", but the step before it samples " + std::to_string(chainableRows) +
           " rows");
  }
}

}  // namespace

void readStepBatch(const Napi::Object& b, const Model& model, int chainableRows, StepBatchHolder& holder) {
  StepView& v = holder.view;
  const int vocab = model.config().vocabSize;
  const int numBlocks = model.numBlocks();
  const int blockSize = model.blockSize();
  v.numTokens = count(b, "numTokens");
  v.numSeqs = count(b, "numSeqs");
  v.maxBlocksPerSeq = count(b, "maxBlocksPerSeq");
  const size_t T = size_t(v.numTokens), S = size_t(v.numSeqs);
  v.tokenIds = int32s(b, "tokenIds", T);
  v.positions = int32s(b, "positions", T);
  v.queryStart = int32s(b, "queryStart", S + 1);
  v.seqLens = int32s(b, "seqLens", S);
  v.blockTable = int32s(b, "blockTable", S * size_t(v.maxBlocksPerSeq));
  v.slotMapping = int32s(b, "slotMapping", T);
  v.numLogitRows = int(lengthOf(b, "logitRows"));
  v.logitRows = int32s(b, "logitRows", 0);
  v.numBlockCopies = int(lengthOf(b, "blockCopies") / 2);
  v.blockCopies = int32s(b, "blockCopies", 0);
  v.returnLogits = b.Get("returnLogits").ToBoolean();

  if (v.queryStart && v.queryStart[0] != 0) fail("queryStart[0] must be 0");
  if (S > 0 && v.queryStart[S] != v.numTokens) fail("queryStart[numSeqs] must equal numTokens");
  const int64_t slots = int64_t(numBlocks) * blockSize;
  const int64_t capacity = int64_t(v.maxBlocksPerSeq) * blockSize;
  for (size_t s = 0; s < S; s++) {
    int32_t q0 = v.queryStart[s], q1 = v.queryStart[s + 1];
    if (q1 < q0) fail("queryStart must not decrease");
    int32_t len = v.seqLens[s];
    if (len < q1 - q0 || len > capacity) fail("seqLens[" + std::to_string(s) + "] out of range");
    int32_t usedBlocks = (len + blockSize - 1) / blockSize;
    for (int32_t i = 0; i < usedBlocks; i++) {
      int32_t block = v.blockTable[s * v.maxBlocksPerSeq + i];
      if (block < 0 || block >= numBlocks) fail("blockTable holds a block outside the KV cache");
    }
    for (int32_t t = q0; t < q1; t++) {
      if (v.positions[t] < 0 || v.positions[t] >= len) fail("a position is outside its sequence's length");
    }
  }
  for (size_t t = 0; t < T; t++) {
    if (v.tokenIds[t] < 0 || v.tokenIds[t] >= vocab)
      fail("token id " + std::to_string(v.tokenIds[t]) + " is outside the vocabulary (size " + std::to_string(vocab) + ")");
    if (v.slotMapping[t] < -1 || v.slotMapping[t] >= slots) fail("slotMapping holds a slot outside the KV cache");
  }
  for (int r = 0; r < v.numLogitRows; r++)
    if (v.logitRows[r] < 0 || v.logitRows[r] >= v.numTokens) fail("logitRows holds a row outside the batch");
  for (int i = 0; i < 2 * v.numBlockCopies; i++)
    if (v.blockCopies[i] < 0 || v.blockCopies[i] >= numBlocks) fail("blockCopies holds a block outside the KV cache");
  readChainedTokens(b, chainableRows, v);

  Napi::Value sampling = b.Get("sampling");
  if (sampling.IsObject()) {
    readSampling(sampling.As<Napi::Object>(), v.numLogitRows, vocab, holder.sampling);
    v.sampling = &holder.sampling;
  } else {
    v.sampling = nullptr;
  }
}

}  // namespace pagedinfer
