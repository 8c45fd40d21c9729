#!/usr/bin/env node
// Writes random weights of a preset's shape (presets/*.json) for the GPU benchmarks, fast enough
// for 8B models (16 GB): rows repeat, so writing runs at disk speed. Needs the compiled library
// (dist/).
//   node scripts/gpu/write-dummy-weights.mjs --preset llama-3-8b --format gguf --out model.gguf
//       an F16 GGUF for llama.cpp's benchmarks, by the synthetic model writer of
//       lib/model/synthetic-gguf.ts (llama.cpp's conventions, a placeholder vocabulary);
//   node scripts/gpu/write-dummy-weights.mjs --preset llama-3-8b --format safetensors --out DIR
//       a Hugging Face directory (config.json + model.safetensors, bf16) for pagedinfer's cold start:
//       one buffer of random bf16 values, reused at a different offset per tensor.
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { writeLlamaGguf } from '../../dist/model/synthetic-gguf.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { preset: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } } });
const presetFile = path.join(root, 'presets', `${values.preset}.json`);
const c = JSON.parse(readFileSync(presetFile, 'utf8'));
if (c.model_type !== 'llama') throw new Error('write-dummy-weights: llama presets only');
const H = c.hidden_size, F = c.intermediate_size, L = c.num_hidden_layers, V = c.vocab_size;
const heads = c.num_attention_heads, kvHeads = c.num_key_value_heads, hd = c.head_dim ?? H / heads;

// The Hugging Face tensors: [name, shape outermost first, is a norm].
const tensors = [['model.embed_tokens.weight', [V, H]]];
for (let i = 0; i < L; i++) {
  const h = `model.layers.${i}.`;
  tensors.push(
    [`${h}input_layernorm.weight`, [H], true],
    [`${h}self_attn.q_proj.weight`, [heads * hd, H]],
    [`${h}self_attn.k_proj.weight`, [kvHeads * hd, H]],
    [`${h}self_attn.v_proj.weight`, [kvHeads * hd, H]],
    [`${h}self_attn.o_proj.weight`, [H, heads * hd]],
    [`${h}post_attention_layernorm.weight`, [H], true],
    [`${h}mlp.gate_proj.weight`, [F, H]],
    [`${h}mlp.up_proj.weight`, [F, H]],
    [`${h}mlp.down_proj.weight`, [H, F]],
  );
}
tensors.push(['model.norm.weight', [H], true]);
if (!c.tie_word_embeddings) tensors.push(['lm_head.weight', [V, H]]);
const numel = (shape) => shape.reduce((a, b) => a * b, 1);

// 64 MiB of random bf16 values in [-0.02, 0.02].
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
function toBf16(x) { f32[0] = x; return (u32[0] + 0x7fff + ((u32[0] >>> 16) & 1)) >>> 16; }
function pattern() {
  const n = 32 * 2 ** 20, out = new Uint16Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    out[i] = toBf16((seed / 2 ** 32 - 0.5) * 0.04);
  }
  return Buffer.from(out.buffer);
}

function writeTensorData(fd, bytes, pat, offsetSeed, isNorm) {
  if (isNorm) {
    writeSync(fd, Buffer.from(new Uint16Array(bytes / 2).fill(0x3f80).buffer));  // bf16 1.0
    return;
  }
  let pos = (offsetSeed * 7919 * 2) % pat.length & ~1;
  for (let left = bytes; left > 0; ) {
    const n = Math.min(left, pat.length - pos);
    writeSync(fd, pat, pos, n);
    left -= n;
    pos = 0;
  }
}

function writeSafetensors(dir) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(presetFile, path.join(dir, 'config.json'));
  const header = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = numel(shape) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path.join(dir, 'model.safetensors'), 'w');
  writeSync(fd, Buffer.concat([len, Buffer.from(json)]));
  const pat = pattern();
  tensors.forEach(([, shape, isNorm], i) => writeTensorData(fd, numel(shape) * 2, pat, i, isNorm));
  closeSync(fd);
}

const start = Date.now();
if (values.format === 'gguf') {
  const shape = { hidden: H, layers: L, heads, kvHeads, ffn: F, vocab: V, context: c.max_position_embeddings, ropeTheta: c.rope_theta, rmsNormEps: c.rms_norm_eps, tied: c.tie_word_embeddings === true };
  writeLlamaGguf(values.out, { shape, type: 'F16', fill: 'repeat' });
}
else if (values.format === 'safetensors') writeSafetensors(values.out);
else throw new Error('--format gguf|safetensors');
console.log(`wrote ${values.out} (${values.preset}, ${values.format}) in ${((Date.now() - start) / 1000).toFixed(1)} s`);
