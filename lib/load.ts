// loadModel(): from a model name or path to a ready LLM — resolve where the model is, read its
// description and tokenizer, load the weights on the chosen backend, start the engine.
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { EngineOptions } from './engine/types.js';
import { LLM } from './llm.js';
import { defaultModelPath } from './model/default-model.js';
import { loadDummySpec } from './model/dummy.js';
import { loadGgufModelSpec } from './model/gguf-model.js';
import { loadHfModelSpec } from './model/hf-loader.js';
import { resolveModel } from './model/resolve.js';
import type { ModelSpec } from './model/types.js';
import { NativeModelRunner, type RunnerOptions } from './native.js';
import { loadGgufTokenizer } from './tokenizer/gguf-tokenizer.js';
import { loadHfTokenizer } from './tokenizer/hf-tokenizer.js';
import type { Tokenizer } from './tokenizer/types.js';

/** Where and how the weights load (RunnerOptions) and how the engine runs (EngineOptions). */
export interface LoadModelOptions extends EngineOptions, RunnerOptions {}

export interface ModelSource {
  spec: ModelSpec;
  tokenizer: Tokenizer | null;
}

/**
 * Reads what a model is (config, tensor list, tokenizer) without loading weights. `model` is a
 * directory, a .gguf file, a Hugging Face repo id in the local cache or an Ollama name; omitted,
 * the built-in stories260K.
 */
export async function readModelSource(model?: string, options: Pick<LoadModelOptions, 'loadFormat'> = {}): Promise<ModelSource> {
  if (options.loadFormat === 'dummy') {
    const spec = loadDummySpec(model ?? 'tiny-llama');
    const dir = path.dirname(spec.source.path);
    const tokenizer = existsSync(path.join(dir, 'tokenizer.json')) ? await loadHfTokenizer(dir) : null;
    return { spec, tokenizer };
  }
  const resolved = await resolveModel(model ?? defaultModelPath());
  if (resolved.format === 'gguf') return { spec: loadGgufModelSpec(resolved.path), tokenizer: loadGgufTokenizer(resolved.path) };
  const spec = await loadHfModelSpec(resolved.path);
  const tokenizer = existsSync(path.join(resolved.path, 'tokenizer.json')) ? await loadHfTokenizer(resolved.path) : null;
  return { spec, tokenizer };
}

/** Loads a model (see readModelSource for what `model` may be) and starts its engine. */
export async function loadModel(model?: string, options: LoadModelOptions = {}): Promise<LLM> {
  const t0 = performance.now();
  const { spec, tokenizer } = await readModelSource(model, options);
  const t1 = performance.now();
  const runner = await NativeModelRunner.create(spec, options);
  const t2 = performance.now();
  try {
    const times = { modelFiles: (t1 - t0) / 1000, weights: (t2 - t1) / 1000, weightBytes: runner.weightBytes() };
    return await LLM.create(spec, tokenizer, runner, options, times);
  } catch (e) {
    runner.close();
    throw e;
  }
}
