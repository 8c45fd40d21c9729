// A Hugging Face model directory (config.json + *.safetensors, single or sharded) → ModelSpec.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

import { ModelLoadError } from '../errors.js';
import { checkTensors } from './expected-tensors.js';
import { parseHfConfig } from './hf-config.js';
import { canonicalTensorName } from './hf-names.js';
import { computeRopeInvFreq } from './rope.js';
import { readSafetensorsHeader } from './safetensors.js';
import type { ModelSpec, TensorInfo } from './types.js';

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ModelLoadError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

async function weightFiles(dir: string): Promise<string[]> {
  const index = path.join(dir, 'model.safetensors.index.json');
  const entries = await readdir(dir);
  if (entries.includes('model.safetensors.index.json')) {
    const json = (await readJson(index)) as { weight_map?: Record<string, string> };
    if (!json || typeof json.weight_map !== 'object')
      throw new ModelLoadError(`${index}: no "weight_map" object`);
    const files = [...new Set(Object.values(json.weight_map))];
    for (const f of files)
      if (typeof f !== 'string' || f.includes('/') || f.includes('\\') || !entries.includes(f))
        throw new ModelLoadError(`${index} names shard ${JSON.stringify(f)}, which is not in ${dir}`);
    return files.map((f) => path.join(dir, f));
  }
  const files = entries.filter((f) => f.endsWith('.safetensors')).sort();
  if (files.length === 0)
    throw new ModelLoadError(`${dir} has no *.safetensors weights (pytorch .bin checkpoints are not supported: convert them to safetensors)`);
  return files.map((f) => path.join(dir, f));
}

export async function loadHfModelSpec(dir: string): Promise<ModelSpec> {
  const configFile = path.join(dir, 'config.json');
  const config = parseHfConfig(await readJson(configFile), configFile);
  const files = await weightFiles(dir);
  const tensors: TensorInfo[] = [];
  const seen = new Map<string, string>();
  for (const headers of await Promise.all(files.map(readSafetensorsHeader))) {
    for (const t of headers) {
      const name = canonicalTensorName(t.name);
      if (!name) continue;
      const previous = seen.get(name);
      if (previous) throw new ModelLoadError(`tensor ${t.name} appears twice (in ${previous} and ${t.file})`);
      seen.set(name, t.file);
      tensors.push({ name, file: t.file, offset: t.offset, byteLength: t.byteLength, dtype: t.dtype, shape: t.shape, sourceName: t.name });
    }
  }
  checkTensors(config, tensors, dir);
  return { config, tensors, source: { format: 'safetensors', path: dir }, ropeInvFreq: computeRopeInvFreq(config.rope) };
}
