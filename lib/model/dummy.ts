// `loadFormat: 'dummy'` (as vLLM's --load-format dummy): a config alone (a bundled preset or a
// config.json) gives a model of random weights of the right shapes, made on the device, so
// benchmarks of 8B-class shapes need no weight files.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { ModelLoadError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { parseHfConfig } from './hf-config.js';
import { computeRopeInvFreq } from './rope.js';
import type { ModelSpec } from './types.js';

const PRESET_DIR = path.join(packageRoot(), 'presets');

/** Names of the bundled shape presets (llama-3-8b, llama-3.2-1b, qwen2.5-7b, tiny-llama). */
export function dummyPresets(): string[] {
  return readdirSync(PRESET_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** A preset name, a config.json path, or a directory holding one. */
export function loadDummySpec(shape: string): ModelSpec {
  let file = path.join(PRESET_DIR, `${shape}.json`);
  if (!existsSync(file)) {
    file = existsSync(path.join(shape, 'config.json')) ? path.join(shape, 'config.json') : shape;
    if (!existsSync(file))
      throw new ModelLoadError(`dummy model "${shape}": not a preset (${dummyPresets().join(', ')}) nor a config.json path`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelLoadError(`${file}: ${(e as Error).message}`);
  }
  const config = parseHfConfig(json, file);
  return { config, tensors: [], source: { format: 'dummy', path: file }, ropeInvFreq: computeRopeInvFreq(config.rope) };
}
