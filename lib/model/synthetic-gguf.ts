// Writes a llama-shaped GGUF file with random weights in a chosen type, for benchmarks and the
// memory test: the kernels' speed and the loader's memory only depend on the shapes and types
// (`pagedinfer bench gguf` writes its models with it). Types: F32, F16, Q8_0, Q4_0, and Q4_K_M
// (Q4_K, with Q6_K for the output projection and for attn_v / ffn_down in the layers llama.cpp's
// Q4_K_M gives more bits, as llama-quantize does).
// Norms stay F32. The vocabulary is a placeholder 'llama' one (<unk>, <s>, </s>, 256 byte tokens,
// then <tN>), so llama.cpp loads the file; benchmarks feed token ids.
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';

import { BLOCKS, quantizeRow, type QuantizeType } from './gguf-quantize.js';

export interface LlamaShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  context: number;
  /** Default 10000. */
  ropeTheta?: number;
  /** Default 1e-5. */
  rmsNormEps?: number;
  /** Output projection shared with the embedding (default true); false writes output.weight. */
  tied?: boolean;
}

export type SyntheticType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K_M';

export const SHAPES: Record<string, LlamaShape> = {
  // ~212M parameters: a small llama (GQA 16/4, head 64), big enough that weights stream from
  // memory in decode and prefill is compute bound.
  'bench-200m': { hidden: 1024, layers: 16, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000, context: 2048 },
  // ~31M parameters: F32 would be 126 MB, Q4_0 18 MB; the memory test's model.
  'mem-30m': { hidden: 512, layers: 8, heads: 8, kvHeads: 8, ffn: 1536, vocab: 8192, context: 512 },
};

const FILE_TYPE: Record<SyntheticType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15 };

// llama.cpp's choice of layers whose attn_v / ffn_down get Q6_K in Q4_K_M files.
const moreBits = (i: number, n: number): boolean => i < n / 8 || i >= (7 * n) / 8 || (i - Math.floor(n / 8)) % 3 === 2;

function tensorType(fileType: SyntheticType, name: string, layer: number, layers: number): QuantizeType {
  if (fileType !== 'Q4_K_M') return fileType;
  if (name === 'token_embd.weight' || name === 'output.weight') return 'Q6_K';
  if ((name.endsWith('attn_v.weight') || name.endsWith('ffn_down.weight')) && moreBits(layer, layers)) return 'Q6_K';
  return 'Q4_K';
}

interface TensorPlan {
  name: string;
  /** ggml dims, innermost first. */
  dims: number[];
  layer: number;
}

/** The tensors of a llama (output.weight only when the embedding is not tied). */
function tensorList(s: LlamaShape): TensorPlan[] {
  const headDim = s.hidden / s.heads, kv = s.kvHeads * headDim;
  const list: TensorPlan[] = [{ name: 'token_embd.weight', dims: [s.hidden, s.vocab], layer: -1 }, { name: 'output_norm.weight', dims: [s.hidden], layer: -1 }];
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}.`;
    list.push(
      { name: `${b}attn_norm.weight`, dims: [s.hidden], layer: i },
      { name: `${b}attn_q.weight`, dims: [s.hidden, s.hidden], layer: i },
      { name: `${b}attn_k.weight`, dims: [s.hidden, kv], layer: i },
      { name: `${b}attn_v.weight`, dims: [s.hidden, kv], layer: i },
      { name: `${b}attn_output.weight`, dims: [s.hidden, s.hidden], layer: i },
      { name: `${b}ffn_norm.weight`, dims: [s.hidden], layer: i },
      { name: `${b}ffn_gate.weight`, dims: [s.hidden, s.ffn], layer: i },
      { name: `${b}ffn_up.weight`, dims: [s.hidden, s.ffn], layer: i },
      { name: `${b}ffn_down.weight`, dims: [s.ffn, s.hidden], layer: i },
    );
  }
  if (s.tied === false) list.push({ name: 'output.weight', dims: [s.hidden, s.vocab], layer: -1 });
  return list;
}

class Sink {
  pos = 0;
  constructor(private readonly fd: number) {}
  write(buf: Buffer): void {
    writeSync(this.fd, buf);
    this.pos += buf.length;
  }
  private fixed(n: number, put: (b: Buffer) => void): void {
    const b = Buffer.alloc(n);
    put(b);
    this.write(b);
  }
  u32(v: number): void { this.fixed(4, (b) => b.writeUInt32LE(v)); }
  i32(v: number): void { this.fixed(4, (b) => b.writeInt32LE(v)); }
  u64(v: number): void { this.fixed(8, (b) => b.writeBigUInt64LE(BigInt(v))); }
  f32(v: number): void { this.fixed(4, (b) => b.writeFloatLE(v)); }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.write(b);
  }
}

// GGUF value types.
const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;
type Scalar = number | boolean | string;
type Kv = [key: string, type: number, value: Scalar | Scalar[], elementType?: number];

function writeKv(sink: Sink, [key, type, value, elementType]: Kv): void {
  sink.str(key);
  sink.u32(type);
  const one = (t: number, v: Scalar) => {
    if (t === T.U32) sink.u32(v as number);
    else if (t === T.I32) sink.i32(v as number);
    else if (t === T.F32) sink.f32(v as number);
    else if (t === T.BOOL) sink.write(Buffer.from([v ? 1 : 0]));
    else if (t === T.STRING) sink.str(v as string);
  };
  if (type === T.ARRAY) {
    const values = value as Scalar[];
    sink.u32(elementType!);
    sink.u64(values.length);
    for (const v of values) one(elementType!, v);
  } else one(type, value as Scalar);
}

/** xorshift32 from a 32-bit state (0 becomes 1): fast, small, reproducible; uniform in [0, 1). */
export function xorshift32(state: number): () => number {
  let s = state >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Parameters of a shape (every tensor's elements, as llama.cpp counts them). */
export function shapeParameters(shape: string | LlamaShape): number {
  return tensorList(typeof shape === 'string' ? SHAPES[shape] : shape).reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
}

export interface SyntheticOptions {
  shape?: string | LlamaShape;
  type?: SyntheticType;
  seed?: number;
  /**
   * 'random' (default): every row drawn afresh. 'repeat': each tensor cycles through 64 random rows,
   * so an 8B file is written at disk speed (benchmarks, where only shapes and types matter).
   */
  fill?: 'random' | 'repeat';
}

const REPEAT_ROWS = 64;

/** Writes the model (through a .partial file, renamed when complete). */
export function writeLlamaGguf(
  path: string,
  { shape = 'bench-200m', type = 'Q4_0', seed = 1, fill = 'random' }: SyntheticOptions = {},
): { path: string; bytes: number; parameters: number; types: Record<string, number> } {
  const s = typeof shape === 'string' ? SHAPES[shape] : shape;
  if (!s) throw new Error(`unknown shape ${shape} (known: ${Object.keys(SHAPES).join(', ')})`);
  if (!(type in FILE_TYPE)) throw new Error(`unknown type ${type} (F32, F16, Q8_0, Q4_0, Q4_K_M)`);
  const headDim = s.hidden / s.heads;
  const tensors = tensorList(s).map((t) => ({ ...t, type: t.dims.length === 1 ? ('F32' as const) : tensorType(type, t.name, t.layer, s.layers), offset: 0, bytes: 0 }));
  const alignment = 32;
  let offset = 0;
  for (const t of tensors) {
    const { elems, bytes } = BLOCKS[t.type];
    t.offset = offset;
    t.bytes = (t.dims[0] / elems) * bytes * (t.dims[1] ?? 1);
    offset += Math.ceil(t.bytes / alignment) * alignment;
  }

  const tmp = `${path}.partial`;
  const fd = openSync(tmp, 'w');
  const sink = new Sink(fd);
  try {
    const vocab = ['<unk>', '<s>', '</s>'];
    for (let i = 0; i < 256; i++) vocab.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
    while (vocab.length < s.vocab) vocab.push(`<t${vocab.length}>`);
    const tokenTypes = vocab.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
    const kv: Kv[] = [
      ['general.architecture', T.STRING, 'llama'],
      ['general.name', T.STRING, `random-llama-${typeof shape === 'string' ? shape : 'custom'}`],
      ['general.alignment', T.U32, alignment],
      ['general.file_type', T.U32, FILE_TYPE[type]],
      ['general.quantization_version', T.U32, 2],
      ['llama.vocab_size', T.U32, s.vocab],
      ['llama.context_length', T.U32, s.context],
      ['llama.embedding_length', T.U32, s.hidden],
      ['llama.block_count', T.U32, s.layers],
      ['llama.feed_forward_length', T.U32, s.ffn],
      ['llama.attention.head_count', T.U32, s.heads],
      ['llama.attention.head_count_kv', T.U32, s.kvHeads],
      ['llama.rope.dimension_count', T.U32, headDim],
      ['llama.rope.freq_base', T.F32, s.ropeTheta ?? 10000],
      ['llama.attention.layer_norm_rms_epsilon', T.F32, s.rmsNormEps ?? 1e-5],
      ['tokenizer.ggml.model', T.STRING, 'llama'],
      ['tokenizer.ggml.tokens', T.ARRAY, vocab, T.STRING],
      ['tokenizer.ggml.scores', T.ARRAY, vocab.map(() => 0), T.F32],
      ['tokenizer.ggml.token_type', T.ARRAY, tokenTypes, T.I32],
      ['tokenizer.ggml.bos_token_id', T.U32, 1],
      ['tokenizer.ggml.eos_token_id', T.U32, 2],
      ['tokenizer.ggml.unknown_token_id', T.U32, 0],
      ['tokenizer.ggml.add_bos_token', T.BOOL, true],
    ];
    sink.write(Buffer.from('GGUF'));
    sink.u32(3);
    sink.u64(tensors.length);
    sink.u64(kv.length);
    for (const entry of kv) writeKv(sink, entry);
    for (const t of tensors) {
      sink.str(t.name);
      sink.u32(t.dims.length);
      for (const d of t.dims) sink.u64(d);
      sink.u32(BLOCKS[t.type].code);
      sink.u64(t.offset);
    }
    const pad = (n: number) => sink.write(Buffer.alloc((alignment - (n % alignment)) % alignment));
    pad(sink.pos);
    const random = xorshift32(seed * 2654435761);
    for (const t of tensors) {
      const cols = t.dims[0], rows = t.dims[1] ?? 1;
      // Norm weights near 1; matrices uniform with the std of a 1/sqrt(fan_in) init, so
      // activations keep their size through the layers.
      const a = Math.sqrt(3 / cols);
      const row = new Float32Array(cols);
      const randomRow = (): Buffer => {
        for (let i = 0; i < cols; i++) row[i] = t.dims.length === 1 ? 1 + 0.1 * (random() - 0.5) : a * (2 * random() - 1);
        return quantizeRow(t.type, row);
      };
      const repeated = fill === 'repeat' ? Array.from({ length: Math.min(rows, REPEAT_ROWS) }, randomRow) : null;
      const chunks: Buffer[] = [];
      let chunkBytes = 0;
      for (let r = 0; r < rows; r++) {
        const bytes = repeated ? repeated[r % repeated.length] : randomRow();
        chunks.push(bytes);
        chunkBytes += bytes.length;
        if (chunkBytes > 1 << 22) {
          sink.write(Buffer.concat(chunks));
          chunks.length = 0;
          chunkBytes = 0;
        }
      }
      if (chunks.length) sink.write(Buffer.concat(chunks));
      pad(t.bytes);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const parameters = tensors.reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
  const types: Record<string, number> = {};
  for (const t of tensors) types[t.type] = (types[t.type] ?? 0) + 1;
  return { path, bytes: sink.pos, parameters, types };
}
