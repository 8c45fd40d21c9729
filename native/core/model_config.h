// Hyperparameters of a Llama-family decoder, as lib/model/ hands them over (already validated
// there; native code checks them again against the tensors it is given).
#pragma once
#include <vector>

namespace pagedinfer {

struct ModelConfig {
  int hiddenSize = 0;
  int intermediateSize = 0;
  int numLayers = 0;
  int numHeads = 0;
  int numKvHeads = 0;
  int headDim = 0;
  int vocabSize = 0;
  int maxContext = 0;
  float rmsNormEps = 1e-5f;
  // Rotary embedding: inverse frequency per rotated pair (scaling already applied), and the
  // layout: neox rotates (i, i + rotaryDim/2), normal rotates (2i, 2i + 1).
  std::vector<float> ropeInvFreq;
  int rotaryDim = 0;
  bool ropeNeox = true;
  bool tieWordEmbeddings = false;
  bool attentionBias = false;
  bool qkNorm = false;

  int qDim() const { return numHeads * headDim; }
  int kvDim() const { return numKvHeads * headDim; }
};

}  // namespace pagedinfer
