#!/usr/bin/env node
// Writes random weights of a preset's shape (presets/*.json) for the GPU benchmarks, fast enough
// for 8B models (16 GB): values come from one buffer of random halves, reused at a different
// offset per tensor, so writing runs at disk speed.
//   node scripts/gpu/write-dummy-weights.mjs --preset llama-3-8b --format gguf --out model.gguf
//       an F16 GGUF in llama.cpp's conventions (llama architecture keys, a placeholder 'llama'
//       vocabulary: <unk> <s> </s>, 256 byte tokens, then <tN>) for llama.cpp's benchmarks;
//   node scripts/gpu/write-dummy-weights.mjs --preset llama-3-8b --format safetensors --out DIR
//       a Hugging Face directory (config.json + model.safetensors, bf16) for pagedinfer's cold start.
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { preset: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } } });
const presetFile = path.join(root, 'presets', `${values.preset}.json`);
const c = JSON.parse(readFileSync(presetFile, 'utf8'));
if (c.model_type !== 'llama') throw new Error('write-dummy-weights: llama presets only');
const H = c.hidden_size, F = c.intermediate_size, L = c.num_hidden_layers, V = c.vocab_size;
const heads = c.num_attention_heads, kvHeads = c.num_key_value_heads, hd = c.head_dim ?? H / heads;

// [name (gguf), name (hf), shape outermost first, is a norm]
const tensors = [['token_embd.weight', 'model.embed_tokens.weight', [V, H]]];
for (let i = 0; i < L; i++) {
  const g = `blk.${i}.`, h = `model.layers.${i}.`;
  tensors.push(
    [`${g}attn_norm.weight`, `${h}input_layernorm.weight`, [H], true],
    [`${g}attn_q.weight`, `${h}self_attn.q_proj.weight`, [heads * hd, H]],
    [`${g}attn_k.weight`, `${h}self_attn.k_proj.weight`, [kvHeads * hd, H]],
    [`${g}attn_v.weight`, `${h}self_attn.v_proj.weight`, [kvHeads * hd, H]],
    [`${g}attn_output.weight`, `${h}self_attn.o_proj.weight`, [H, heads * hd]],
    [`${g}ffn_norm.weight`, `${h}post_attention_layernorm.weight`, [H], true],
    [`${g}ffn_gate.weight`, `${h}mlp.gate_proj.weight`, [F, H]],
    [`${g}ffn_up.weight`, `${h}mlp.up_proj.weight`, [F, H]],
    [`${g}ffn_down.weight`, `${h}mlp.down_proj.weight`, [H, F]],
  );
}
tensors.push(['output_norm.weight', 'model.norm.weight', [H], true]);
if (!c.tie_word_embeddings) tensors.push(['output.weight', 'lm_head.weight', [V, H]]);
const numel = (shape) => shape.reduce((a, b) => a * b, 1);

// 64 MiB of random halves in [-0.02, 0.02] (and ones for norms), as f16 or bf16 bits.
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
function toBf16(x) { f32[0] = x; return (u32[0] + 0x7fff + ((u32[0] >>> 16) & 1)) >>> 16; }
function toF16(x) {
  const a = Math.abs(x), s = x < 0 ? 0x8000 : 0;
  if (a < 2 ** -14) return s | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  return s | ((e + 15) << 10) | (Math.round((a / 2 ** e - 1) * 1024) & 0x3ff);
}
function pattern(kind) {
  const n = 32 * 2 ** 20, out = new Uint16Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const x = (seed / 2 ** 32 - 0.5) * 0.04;
    out[i] = kind === 'f16' ? toF16(x) : toBf16(x);
  }
  return Buffer.from(out.buffer);
}

function writeTensorData(fd, bytes, pat, offsetSeed, isNorm, kind) {
  if (isNorm) {
    const one = kind === 'f16' ? 0x3c00 : 0x3f80;
    writeSync(fd, Buffer.from(new Uint16Array(bytes / 2).fill(one).buffer));
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

function ggufString(s) {
  const b = Buffer.from(s, 'utf8'), len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function writeGguf(file) {
  const kv = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const f = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return b; };
  const add = (key, type, payload) => kv.push(Buffer.concat([ggufString(key), u32(type), payload]));
  add('general.architecture', 8, ggufString('llama'));
  add('general.name', 8, ggufString(`${values.preset} (random weights)`));
  add('general.file_type', 4, u32(1));
  add('general.alignment', 4, u32(32));
  add('llama.context_length', 4, u32(c.max_position_embeddings));
  add('llama.embedding_length', 4, u32(H));
  add('llama.block_count', 4, u32(L));
  add('llama.feed_forward_length', 4, u32(F));
  add('llama.attention.head_count', 4, u32(heads));
  add('llama.attention.head_count_kv', 4, u32(kvHeads));
  add('llama.rope.dimension_count', 4, u32(hd));
  add('llama.rope.freq_base', 6, f(c.rope_theta ?? 10000));
  add('llama.attention.layer_norm_rms_epsilon', 6, f(c.rms_norm_eps));
  add('llama.vocab_size', 4, u32(V));
  const tokens = [], types = [];
  for (let i = 0; i < V; i++) {
    if (i < 3) { tokens.push(['<unk>', '<s>', '</s>'][i]); types.push(i === 0 ? 2 : 3); }
    else if (i < 259) { tokens.push(`<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
    else { tokens.push(`<t${i}>`); types.push(1); }
  }
  const arr = (elemType, items) => { const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(items.length)); return Buffer.concat([u32(elemType), n, ...items]); };
  add('tokenizer.ggml.model', 8, ggufString('llama'));
  add('tokenizer.ggml.tokens', 9, arr(8, tokens.map(ggufString)));
  add('tokenizer.ggml.scores', 9, arr(6, tokens.map(() => f(0))));
  add('tokenizer.ggml.token_type', 9, arr(5, types.map((t) => { const b = Buffer.alloc(4); b.writeInt32LE(t); return b; })));
  add('tokenizer.ggml.bos_token_id', 4, u32(1));
  add('tokenizer.ggml.eos_token_id', 4, u32(2));
  const infos = [];
  let offset = 0;
  for (const [name, , shape, isNorm] of tensors) {
    const dims = [...shape].reverse();
    const n = Buffer.alloc(8 * dims.length);
    dims.forEach((d, i) => n.writeBigUInt64LE(BigInt(d), 8 * i));
    const off = Buffer.alloc(8);
    off.writeBigUInt64LE(BigInt(offset));
    infos.push(Buffer.concat([ggufString(name), u32(dims.length), n, u32(isNorm ? 0 : 1), off]));
    offset += Math.ceil((numel(shape) * (isNorm ? 4 : 2)) / 32) * 32;
  }
  const header = Buffer.alloc(24);
  header.write('GGUF', 0);
  header.writeUInt32LE(3, 4);
  header.writeBigUInt64LE(BigInt(tensors.length), 8);
  header.writeBigUInt64LE(BigInt(kv.length), 16);
  let head = Buffer.concat([header, ...kv, ...infos]);
  head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
  const fd = openSync(file, 'w');
  writeSync(fd, head);
  const pat = pattern('f16');
  tensors.forEach(([, , shape, isNorm], i) => {
    const bytes = numel(shape) * (isNorm ? 4 : 2);
    if (isNorm) writeSync(fd, Buffer.from(new Float32Array(numel(shape)).fill(1).buffer));
    else writeTensorData(fd, bytes, pat, i, false, 'f16');
    const pad = (32 - (bytes % 32)) % 32;
    if (pad) writeSync(fd, Buffer.alloc(pad));
  });
  closeSync(fd);
}

function writeSafetensors(dir) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(presetFile, path.join(dir, 'config.json'));
  const header = {};
  let offset = 0;
  for (const [, name, shape] of tensors) {
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
  const pat = pattern('bf16');
  tensors.forEach(([, , shape, isNorm], i) => writeTensorData(fd, numel(shape) * 2, pat, i, isNorm, 'bf16'));
  closeSync(fd);
}

const start = Date.now();
if (values.format === 'gguf') writeGguf(values.out);
else if (values.format === 'safetensors') writeSafetensors(values.out);
else throw new Error('--format gguf|safetensors');
console.log(`wrote ${values.out} (${values.preset}, ${values.format}) in ${((Date.now() - start) / 1000).toFixed(1)} s`);
