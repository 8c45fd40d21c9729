// Loading Hugging Face directories: both config forms, sharded weights, and every kind of bad
// input rejected with a typed error that names the problem, while the process stays up.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { ModelLoadError, UnsupportedArchitectureError } from '../lib/errors.js';
import { parseHfConfig } from '../lib/model/hf-config.js';
import { loadHfModelSpec } from '../lib/model/hf-loader.js';
import { computeRopeInvFreq } from '../lib/model/rope.js';
import { NativeModelRunner } from '../lib/native.js';
import { referenceCases } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { runSingleSequence } from './helpers/single-sequence.js';

const base = {
  model_type: 'llama',
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 2048,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
};

describe('config.json parsing', () => {
  it('reads the older rope_theta / rope_scaling keys and the newer rope_parameters alike', () => {
    const older = parseHfConfig(
      {
        ...base,
        rope_theta: 500000,
        rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 },
      },
      'old.json',
    );
    const newer = parseHfConfig(
      {
        ...base,
        rope_parameters: {
          rope_theta: 500000,
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 256,
        },
      },
      'new.json',
    );
    expect(newer).toEqual(older);
    expect(older.rope).toEqual({
      theta: 500000,
      style: 'neox',
      rotaryDim: 64,
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 256 },
    });
  });

  it('applies llama3 scaling: long wavelengths divided by the factor, short ones kept', () => {
    const c = parseHfConfig({ ...base, rope_scaling: { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 } }, 'x');
    const scaled = computeRopeInvFreq(c.rope);
    const plain = computeRopeInvFreq({ ...c.rope, scaling: null });
    expect(scaled[0]).toBeCloseTo(plain[0], 7);
    expect(scaled[31]).toBeCloseTo(plain[31] / 8, 10);
  });

  it('knows each architecture: GQA, explicit head_dim, qwen2 bias, qwen3 q/k norm, tied embeddings', () => {
    expect(parseHfConfig({ ...base, model_type: 'qwen2' }, 'x')).toMatchObject({ architecture: 'qwen2', attentionBias: true, qkNorm: false });
    expect(parseHfConfig({ ...base, model_type: 'qwen3', head_dim: 128 }, 'x')).toMatchObject({ headDim: 128, qkNorm: true, attentionBias: false });
    expect(parseHfConfig({ ...base, model_type: 'mistral', tie_word_embeddings: true }, 'x')).toMatchObject({ architecture: 'llama', tieWordEmbeddings: true });
    expect(parseHfConfig({ ...base, num_key_value_heads: 1 }, 'x')).toMatchObject({ numKvHeads: 1, headDim: 64 });
  });

  it('rejects unknown architectures and bad values with a typed error that names them', () => {
    expect(() => parseHfConfig({ ...base, model_type: 'gpt2' }, 'cfg.json')).toThrow(UnsupportedArchitectureError);
    expect(() => parseHfConfig({ ...base, model_type: 'gpt2' }, 'cfg.json')).toThrow(/model_type "gpt2" is not supported/);
    expect(() => parseHfConfig({ ...base, hidden_size: -3 }, 'cfg.json')).toThrow(/hidden_size/);
    expect(() => parseHfConfig({ ...base, num_key_value_heads: 3 }, 'cfg.json')).toThrow(/not a multiple/);
    expect(() => parseHfConfig({ ...base, rope_scaling: { type: 'yarn', factor: 4 } }, 'cfg.json')).toThrow(/yarn/);
    expect(() => parseHfConfig('nonsense', 'cfg.json')).toThrow(ModelLoadError);
  });
});

describe.skipIf(!HAVE_SHARED)(sharedTitle('loading model directories'), () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  function copyOf(model: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'pagedinfer-load-'));
    dirs.push(dir);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(sharedPath('models', model, f), path.join(dir, f));
    return dir;
  }

  it('loads sharded weights through model.safetensors.index.json and computes the same logits', async () => {
    const dir = copyOf('qwen2-tiny-random');
    const whole = readFileSync(path.join(dir, 'model.safetensors'));
    const headerLen = Number(whole.readBigUInt64LE(0));
    const header = JSON.parse(whole.subarray(8, 8 + headerLen).toString());
    const names = Object.keys(header).filter((n) => n !== '__metadata__');
    const shards = [names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 2 === 1)];
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, s) => {
      const file = `model-0000${s + 1}-of-00002.safetensors`;
      const h: Record<string, unknown> = {};
      const parts: Buffer[] = [];
      let off = 0;
      for (const n of shard) {
        const [b, e] = header[n].data_offsets;
        parts.push(whole.subarray(8 + headerLen + b, 8 + headerLen + e));
        h[n] = { ...header[n], data_offsets: [off, off + e - b] };
        off += e - b;
        weightMap[n] = file;
      }
      const json = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeFileSync(path.join(dir, file), Buffer.concat([len, json, ...parts]));
    });
    rmSync(path.join(dir, 'model.safetensors'));
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const spec = await loadHfModelSpec(dir);
    expect(new Set(spec.tensors.map((t) => path.basename(t.file))).size).toBe(2);
    const runner = await NativeModelRunner.create(spec, { backend: 'cpu' });
    try {
      const c = referenceCases('qwen2-tiny-random')[0];
      expect((await runSingleSequence(runner, c.ids, 8)).greedy).toEqual(c.greedy_ids.slice(0, 8));
    } finally {
      runner.close();
    }
  });

  it('rejects a truncated safetensors file, naming the tensor', async () => {
    const dir = copyOf('stories260K');
    const file = path.join(dir, 'model.safetensors');
    truncateSync(file, readFileSync(file).length - 1000);
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/truncated/);
    await expect(loadHfModelSpec(dir)).rejects.toBeInstanceOf(ModelLoadError);
  });

  it('rejects a corrupt header', async () => {
    const dir = copyOf('stories260K');
    const file = path.join(dir, 'model.safetensors');
    const buf = readFileSync(file);
    buf.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(file, buf);
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/header claims/);
    buf.writeBigUInt64LE(20n, 0);
    buf.write('{"not json', 8);
    writeFileSync(file, buf);
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/not JSON/);
  });

  it('names a missing tensor and a wrong shape', async () => {
    const dir = copyOf('llama3-tiny-random');
    const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/missing tensor blk\.2\.attn_norm\.weight/);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, num_key_value_heads: 4 }));
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/model\.layers\.0\.self_attn\.k_proj\.weight: expected shape \[256, 256\], file has \[128, 256\]/);
  });

  it('rejects a directory without weights or config', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pagedinfer-empty-'));
    dirs.push(dir);
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/config\.json/);
    copyFileSync(sharedPath('models', 'stories260K', 'config.json'), path.join(dir, 'config.json'));
    await expect(loadHfModelSpec(dir)).rejects.toThrow(/no \*\.safetensors/);
  });

  it('native code refuses a tensor list that points outside its file, and the process stays up', async () => {
    const spec = await loadHfModelSpec(sharedPath('models', 'stories260K'));
    const bad = { ...spec, tensors: spec.tensors.map((t, i) => (i === 3 ? { ...t, offset: t.offset + 10_000_000 } : t)) };
    await expect(NativeModelRunner.create(bad, { backend: 'cpu' })).rejects.toThrow(/outside .*truncated/);
    const wrongType = { ...spec, tensors: spec.tensors.map((t, i) => (i === 3 ? { ...t, dtype: 'F16' as const } : t)) };
    await expect(NativeModelRunner.create(wrongType, { backend: 'cpu' })).rejects.toThrow(ModelLoadError);
  });
});
