import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelLoadError, UnsupportedArchitectureError } from '../lib/errors.js';
import { parseGguf, readGgufFile } from '../lib/model/gguf.js';
import { ggufModelSpec, loadGgufModelSpec } from '../lib/model/gguf-model.js';
import { bufferSource } from '../lib/model/gguf-source.js';
import { GgufValueType } from '../lib/model/gguf-types.js';
import { computeRopeInvFreq } from '../lib/model/rope.js';
import type { ModelSpec, RopeConfig } from '../lib/model/types.js';
import { kvArray, kvF32, kvString, kvU32, writeGguf, type WriterKv, type WriterTensor } from './helpers/gguf-writer.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';

interface HfConfig {
  model_type: string;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  intermediate_size: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_parameters?: { rope_theta: number; rope_type: string; factor?: number; low_freq_factor?: number; high_freq_factor?: number; original_max_position_embeddings?: number };
  tie_word_embeddings: boolean;
  bos_token_id: number;
  eos_token_id: number;
}

const hfConfig = (model: string): HfConfig => JSON.parse(readFileSync(sharedPath('models', model, 'config.json'), 'utf8'));

/** The HF config's rope, as the safetensors loader would describe it (neox layout). */
function hfRope(c: HfConfig): RopeConfig {
  const p = c.rope_parameters;
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const scaling =
    p?.rope_type === 'llama3'
      ? { type: 'llama3' as const, factor: p.factor!, lowFreqFactor: p.low_freq_factor!, highFreqFactor: p.high_freq_factor!, originalMaxPositionEmbeddings: p.original_max_position_embeddings! }
      : null;
  return { theta: p?.rope_theta ?? c.rope_theta ?? 10000, style: 'neox', rotaryDim: headDim, scaling };
}

function expectConfigMatches(spec: ModelSpec, c: HfConfig, label: string): void {
  const cfg = spec.config;
  expect(cfg.architecture, label).toBe(c.model_type);
  expect(cfg.hiddenSize, label).toBe(c.hidden_size);
  expect(cfg.numLayers, label).toBe(c.num_hidden_layers);
  expect(cfg.numHeads, label).toBe(c.num_attention_heads);
  expect(cfg.numKvHeads, label).toBe(c.num_key_value_heads);
  expect(cfg.headDim, label).toBe(c.head_dim ?? c.hidden_size / c.num_attention_heads);
  expect(cfg.intermediateSize, label).toBe(c.intermediate_size);
  expect(cfg.vocabSize, label).toBe(c.vocab_size);
  expect(Math.abs(cfg.rmsNormEps - c.rms_norm_eps) / c.rms_norm_eps, label).toBeLessThan(1e-7); // stored as float32
  expect(cfg.rope.theta, label).toBe(hfRope(c).theta);
  expect(cfg.rope.rotaryDim, label).toBe(cfg.headDim);
  expect(cfg.rope.style, label).toBe(c.model_type === 'llama' ? 'normal' : 'neox');
  expect(cfg.attentionBias, label).toBe(c.model_type === 'qwen2');
  expect(cfg.qkNorm, label).toBe(c.model_type === 'qwen3');
  expect(cfg.bosTokenId, label).toBe(c.bos_token_id);
  expect(cfg.eosTokenIds, label).toEqual([c.eos_token_id]);
}

/** ropeInvFreq equals the HF config's frequencies within float32 rounding. */
function expectInvFreqClose(got: Float32Array, want: Float32Array, label: string): void {
  expect(got.length, label).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]) / want[i], `${label} [${i}]`).toBeLessThan(3e-7);
}

describe.skipIf(!HAVE_SHARED)(sharedTitle('GGUF → ModelSpec on the shared fixtures'), () => {
  it('each fixture gives the config of its model\'s config.json', () => {
    const dir = sharedPath('models', 'gguf');
    const files = readdirSync(dir).filter((f) => f.endsWith('.gguf'));
    expect(files).toHaveLength(18);
    for (const name of files) {
      const model = /^(.*)-(F32|F16|BF16|Q8_0|Q4_0|Q4_K_M)\.gguf$/.exec(name)![1];
      const c = hfConfig(model);
      const spec = loadGgufModelSpec(path.join(dir, name));
      expectConfigMatches(spec, c, name);
      expect(spec.config.maxContext, name).toBe(c.max_position_embeddings);
      expect(spec.config.tieWordEmbeddings, name).toBe(c.tie_word_embeddings);
      expect(spec.source).toEqual({ format: 'gguf', path: path.join(dir, name) });
      // Without scaling, the table is the plain one; llama3 is checked separately below.
      if (!model.startsWith('llama3')) expectInvFreqClose(spec.ropeInvFreq, computeRopeInvFreq(hfRope(c)), name);
    }
  });

  it('llama3-tiny-random: rope_freqs gives computeRopeInvFreq of the HF llama3 scaling', () => {
    const c = hfConfig('llama3-tiny-random');
    const want = computeRopeInvFreq(hfRope(c));
    const unscaled = computeRopeInvFreq({ ...hfRope(c), scaling: null });
    for (const type of ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M']) {
      const spec = loadGgufModelSpec(sharedPath('models', 'gguf', `llama3-tiny-random-${type}.gguf`));
      expectInvFreqClose(spec.ropeInvFreq, want, type);
      expect(spec.config.rope.scaling).toBeNull(); // folded into ropeInvFreq
      // The scaling really is in the file: the low frequencies differ from the unscaled table by the factor 8.
      expect(unscaled[31] / spec.ropeInvFreq[31]).toBeCloseTo(8, 5);
    }
  });

  it('tensors: canonical names, outermost-first shapes, dtypes, offsets and sizes from the file', () => {
    const file = sharedPath('models', 'gguf', 'qwen3-tiny-random-Q4_K_M.gguf');
    const gguf = readGgufFile(file);
    const spec = loadGgufModelSpec(file);
    expect(spec.tensors).toHaveLength(gguf.tensors.length);
    const byName = new Map(spec.tensors.map((t) => [t.name, t]));
    expect(byName.get('blk.0.attn_q.weight')).toMatchObject({ shape: [512, 256], dtype: 'Q4_K', byteLength: (512 * 256 / 256) * 144, file });
    expect(byName.get('blk.0.attn_output.weight')).toMatchObject({ shape: [256, 512], dtype: 'Q4_K' });
    expect(byName.get('output.weight')).toMatchObject({ shape: [2048, 256], dtype: 'Q6_K' });
    expect(byName.get('blk.1.ffn_down.weight')).toMatchObject({ shape: [256, 512], dtype: 'Q6_K' });
    expect(byName.get('blk.0.attn_q_norm.weight')).toMatchObject({ shape: [128], dtype: 'F32' });
    for (const t of gguf.tensors) {
      const s = byName.get(t.name)!;
      expect(s.offset).toBe(t.offset);
      expect(s.byteLength).toBe(t.byteLength);
      expect(s.sourceName).toBe(t.name);
    }
    const q2 = loadGgufModelSpec(sharedPath('models', 'gguf', 'qwen2-tiny-random-F32.gguf'));
    expect(q2.tensors.find((t) => t.name === 'blk.1.attn_k.bias')).toMatchObject({ shape: [128], dtype: 'F32', byteLength: 512 });
    const st = loadGgufModelSpec(sharedPath('models', 'gguf', 'stories260K-Q8_0.gguf'));
    expect(st.tensors.filter((t) => t.dtype === 'F16').map((t) => t.name).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `blk.${i}.ffn_down.weight`));
  });

  it('the llama.cpp-converted stories260K: its stored output.weight and 2048 context', () => {
    const spec = loadGgufModelSpec(sharedPath('models', 'stories260K-gguf', 'stories260K.gguf'));
    const c = hfConfig('stories260K');
    expectConfigMatches(spec, c, 'stories260K.gguf');
    expect(spec.config.maxContext).toBe(2048); // MANIFEST: the converter's default, not the trained 512
    expect(spec.config.tieWordEmbeddings).toBe(false); // output.weight is stored (equal to token_embd)
    expect(spec.config.rope.theta).toBe(10000); // no rope.freq_base key: llama.cpp's default
    expect(spec.tensors).toHaveLength(48);
  });

  it('rejects an architecture it cannot run', () => {
    // A real file: GPT-2's vocabulary GGUF says general.architecture = gpt2.
    const file = sharedPath('models', 'tokenizer-vectors', 'ggml-vocab-gpt-2.gguf');
    expect(() => loadGgufModelSpec(file)).toThrow(UnsupportedArchitectureError);
    expect(() => loadGgufModelSpec(file)).toThrow(/architecture 'gpt2' is not supported \(supported: llama, mistral, qwen2, qwen3\)/);
  });
});

// A minimal well-formed llama file (1 layer, hidden 32, 4 heads of 8, 2 kv heads, ffn 64, vocab
// 16): what the error tests below break one thing at a time.
function tinyModel(opts: { arch?: string; kv?: WriterKv[]; drop?: string[]; tensors?: WriterTensor[]; types?: Record<string, number> } = {}): Uint8Array {
  const arch = opts.arch ?? 'llama';
  const overrides = new Set((opts.kv ?? []).map((e) => e.key));
  const kv = [
    kvString('general.architecture', arch),
    kvU32(`${arch}.context_length`, 128),
    kvU32(`${arch}.embedding_length`, 32),
    kvU32(`${arch}.block_count`, 1),
    kvU32(`${arch}.feed_forward_length`, 64),
    kvU32(`${arch}.attention.head_count`, 4),
    kvU32(`${arch}.attention.head_count_kv`, 2),
    kvF32(`${arch}.attention.layer_norm_rms_epsilon`, 1e-6),
  ]
    .filter((e) => !opts.drop?.includes(e.key) && !overrides.has(e.key))
    .concat(opts.kv ?? []);
  // ggml ne order: innermost first, so a [out, in] matrix is written [in, out].
  const shapes: Record<string, number[]> = {
    'token_embd.weight': [32, 16],
    'output_norm.weight': [32],
    'blk.0.attn_norm.weight': [32],
    'blk.0.attn_q.weight': [32, 32],
    'blk.0.attn_k.weight': [32, 16],
    'blk.0.attn_v.weight': [32, 16],
    'blk.0.attn_output.weight': [32, 32],
    'blk.0.ffn_norm.weight': [32],
    'blk.0.ffn_gate.weight': [32, 64],
    'blk.0.ffn_up.weight': [32, 64],
    'blk.0.ffn_down.weight': [64, 32],
  };
  const replaced = new Set((opts.tensors ?? []).map((t) => t.name));
  const tensors: WriterTensor[] = Object.entries(shapes)
    .filter(([name]) => !opts.drop?.includes(name) && !replaced.has(name))
    .map(([name, dims]) => ({ name, dims, type: opts.types?.[name] ?? 0 }));
  return writeGguf({ kv, tensors: tensors.concat(opts.tensors ?? []) });
}

const specOf = (bytes: Uint8Array) => ggufModelSpec(parseGguf(bytes, 'tiny.gguf'), bufferSource(bytes));

describe('GGUF → ModelSpec on written files', () => {
  it('applies llama.cpp defaults for absent keys', () => {
    const fullKv = ['blk.0.attn_k.weight', 'blk.0.attn_v.weight'].map((name) => ({ name, type: 0, dims: [32, 32] }));
    const spec = specOf(tinyModel({ drop: ['llama.attention.head_count_kv'], tensors: fullKv }));
    expect(spec.config).toMatchObject({ numKvHeads: 4, headDim: 8, vocabSize: 16, tieWordEmbeddings: true, bosTokenId: null, eosTokenIds: [] });
    expect(spec.config.rope).toEqual({ theta: 10000, style: 'normal', rotaryDim: 8, scaling: null });
    const mistral = specOf(tinyModel({ arch: 'mistral', kv: [kvF32('mistral.rope.freq_base', 1e6), kvF32('mistral.rope.scaling.factor', 4), kvString('mistral.rope.scaling.type', 'linear')] }));
    expect(mistral.config.architecture).toBe('llama');
    expect(mistral.config.rope).toMatchObject({ theta: 1e6, scaling: { type: 'linear', factor: 4 } });
    expect(mistral.ropeInvFreq[0]).toBeCloseTo(0.25, 7);
  });

  it('reads bos/eos and the end-of-turn tokens of the vocabulary', () => {
    const tokens = ['<unk>', '<s>', '</s>', 'a', '<|im_end|>', '<|endoftext|>', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'];
    const types = [2, 3, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const spec = specOf(tinyModel({
      kv: [
        kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, tokens),
        kvArray('tokenizer.ggml.token_type', GgufValueType.INT32, types),
        kvU32('tokenizer.ggml.bos_token_id', 1),
        kvU32('tokenizer.ggml.eos_token_id', 2),
        kvU32('tokenizer.ggml.padding_token_id', 0xffffffff),
      ],
    }));
    expect(spec.config.bosTokenId).toBe(1);
    expect(spec.config.eosTokenIds).toEqual([2, 4, 5]);
  });

  it('names the tensor and the type it does not support', () => {
    const bytes = tinyModel({ types: { 'blk.0.ffn_up.weight': 6 } });
    expect(() => specOf(bytes)).toThrow(ModelLoadError);
    expect(() => specOf(bytes)).toThrow(/tensor blk.0.ffn_up.weight has type Q5_0, which pagedinfer does not support yet \(supported: F32, F16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, BF16\)/);
    expect(() => specOf(tinyModel({ types: { 'token_embd.weight': 3 } }))).toThrow(/tensor token_embd.weight has type Q4_1/);
  });

  it('rejects unknown architectures and missing or inconsistent hyperparameters', () => {
    expect(() => specOf(tinyModel({ arch: 'gemma3' }))).toThrow(UnsupportedArchitectureError);
    expect(() => specOf(tinyModel({ kv: [kvU32('llama.expert_count', 8)] }))).toThrow(/llama with 8 experts \(mixture of experts\) is not supported/);
    expect(() => specOf(tinyModel({ drop: ['general.architecture'] }))).toThrow(/no general.architecture/);
    expect(() => specOf(tinyModel({ drop: ['llama.block_count'] }))).toThrow(/metadata llama.block_count is missing/);
    // Found by the fuzzer: a huge block_count made the tensor check loop over 4 billion layers.
    expect(() => specOf(tinyModel({ kv: [kvU32('llama.block_count', 0xffffffff)] }))).toThrow(/block_count is 4294967295 but the file has only 11 tensors/);
    expect(() => specOf(tinyModel({ drop: ['llama.attention.layer_norm_rms_epsilon'] }))).toThrow(/layer_norm_rms_epsilon is missing/);
    expect(() => specOf(tinyModel({ kv: [kvString('llama.rope.freq_base', 'x')] }))).toThrow(/llama.rope.freq_base should be a number/);
    expect(() => specOf(tinyModel({ kv: [kvU32('llama.attention.head_count_kv', 3)] }))).toThrow(/not a multiple of 3 key\/value heads/);
    expect(() => specOf(tinyModel({ kv: [kvString('llama.rope.scaling.type', 'yarn')] }))).toThrow(/rope scaling 'yarn' is not supported/);
    expect(() => specOf(writeGguf({ kv: [kvString('general.architecture', 'llama'), kvU32('llama.context_length', 1)] }))).toThrow(ModelLoadError);
    expect(() => specOf(tinyModel({ drop: ['blk.0.ffn_down.weight'] }))).toThrow(/missing tensor blk.0.ffn_down.weight/);
    expect(() => specOf(tinyModel({ drop: ['token_embd.weight'] }))).toThrow(/missing 2-D tensor token_embd.weight/);
    expect(() => specOf(tinyModel({ kv: [kvU32('llama.feed_forward_length', 48)] }))).toThrow(/blk.0.ffn_gate.weight: expected shape \[48, 32\], file has \[64, 32\]/);
  });

  it('rejects a rope_freqs tensor of the wrong size or type', () => {
    const freqs = (type: number, n: number): WriterTensor => ({ name: 'rope_freqs.weight', type, dims: [n] });
    expect(() => specOf(tinyModel({ tensors: [freqs(0, 3)] }))).toThrow(/rope_freqs.weight has 3 values; the rotary dimension needs 4/);
    expect(() => specOf(tinyModel({ tensors: [freqs(1, 4)] }))).toThrow(/rope_freqs.weight has type F16/);
    // Zero divisors (the writer's default data) would make infinite frequencies.
    expect(() => specOf(tinyModel({ tensors: [freqs(0, 4)] }))).toThrow(/frequency divisors must be positive/);
    const ok = new Uint8Array(new Float32Array([1, 2, 4, 8]).buffer);
    const spec = specOf(tinyModel({ tensors: [{ ...freqs(0, 4), data: ok }] }));
    expect(Array.from(spec.ropeInvFreq)).toEqual(Array.from(new Float32Array([1, 10000 ** -0.25 / 2, 10000 ** -0.5 / 4, 10000 ** -0.75 / 8])));
  });
});
