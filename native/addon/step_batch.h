// Reads a JS StepBatch (lib/engine/step-batch.ts) into a StepView that points into its typed
// arrays, checking every length and index against the model and its KV cache first: a bad batch
// is an InvalidArgumentError, never an out-of-bounds access.
#pragma once
#include <napi.h>

#include "../core/model.h"
#include "../core/step.h"

namespace pagedinfer {

struct StepBatchHolder {
  StepView view;
  SamplingView sampling;
};

// Throws InvalidArgumentError. `holder` must outlive the view (it owns the sampling view).
// `chainableRows`: the sampled rows of the step submitted before this one (chainedTokens' bound).
void readStepBatch(const Napi::Object& batch, const Model& model, int chainableRows, StepBatchHolder& holder);

}  // namespace pagedinfer
