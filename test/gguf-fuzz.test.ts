// Random mutations and truncations of valid GGUF files through the whole GGUF path (header
// reader, model spec, tokenizer): the only errors may be the typed load errors, nothing may hang,
// and nothing the reader builds may be larger than the file. Seeded, so a failure repeats: the
// message names the seed, strategy and case. FUZZ_CASES=N scales the run (default 60k cases over 5 seeds).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelLoadError, UnsupportedArchitectureError } from '../lib/errors.js';
import { parseGguf, type GgufArray, type GgufFile } from '../lib/model/gguf.js';
import { ggufModelSpec } from '../lib/model/gguf-model.js';
import { bufferSource, type ByteSource } from '../lib/model/gguf-source.js';
import { GgufValueType } from '../lib/model/gguf-types.js';
import { xorshift32 } from '../lib/model/synthetic-gguf.js';
import { ggufTokenizer } from '../lib/tokenizer/gguf-tokenizer.js';
import { kvArray, kvBool, kvF32, kvString, kvU32, writeGguf, type WriterTensor } from './helpers/gguf-writer.js';
import { HAVE_SHARED, sharedPath } from './helpers/shared.js';

const CASES_PER_SEED = Math.ceil(Number(process.env.FUZZ_CASES ?? 60_000) / 5);

// Values that sit on the reader's boundaries: zero, one, 32-bit limits, the 2^53 safe-integer edge,
// 2^60 and 2^64-1 (claims no file can back), and sizes near the file's own.
function interestingU64(size: number, r: () => number): bigint {
  const pick = [0n, 1n, 2n, 31n, 32n, 255n, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 60n, 2n ** 63n, 2n ** 64n - 1n, BigInt(size), BigInt(size + 1), BigInt(size - 1), BigInt(Math.floor(r() * 2 ** 32))];
  return pick[Math.floor(r() * pick.length)];
}
function interestingU32(r: () => number): number {
  const pick = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 14, 30, 31, 39, 40, 0xff, 0xffff, 0x7fffffff, 0xffffffff];
  return pick[Math.floor(r() * pick.length)];
}

type Strategy = (bytes: Uint8Array, header: number, r: () => number) => Uint8Array;

// Mutations aim at the header (where every size the reader trusts lives); truncations anywhere.
const STRATEGIES: Record<string, Strategy> = {
  byteFlips(b, header, r) {
    const out = b.slice();
    const n = 1 + Math.floor(r() * 8);
    for (let i = 0; i < n; i++) out[Math.floor(r() * header)] = Math.floor(r() * 256);
    return out;
  },
  hugeCounts(b, header, r) {
    const out = b.slice();
    const at = Math.floor(r() * Math.max(1, header - 8));
    Buffer.from(out.buffer).writeBigUInt64LE(interestingU64(b.length, r), at);
    return out;
  },
  lengthFields(b, header, r) {
    // Little-endian uint64s below 2^32 in the header are mostly the counts and lengths the reader
    // must distrust: overwrite one of those with a boundary value.
    const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const out = b.slice();
    for (let tries = 0; tries < 64; tries++) {
      const at = Math.floor(r() * Math.max(1, header - 8));
      if (view.readUInt32LE(at + 4) === 0 && view.readUInt32LE(at) <= header) {
        Buffer.from(out.buffer).writeBigUInt64LE(interestingU64(b.length, r), at);
        break;
      }
    }
    return out;
  },
  typeCodes(b, header, r) {
    const out = b.slice();
    const at = Math.floor(r() * Math.max(1, header - 4));
    Buffer.from(out.buffer).writeUInt32LE(interestingU32(r), at);
    return out;
  },
  splice(b, header, r) {
    // Copy a run of header bytes over another place, or cut a run out, shifting what follows.
    const from = Math.floor(r() * header), to = Math.floor(r() * header), len = 1 + Math.floor(r() * 64);
    if (r() < 0.5) {
      const out = b.slice();
      out.copyWithin(to, from, Math.min(from + len, b.length));
      return out;
    }
    const out = new Uint8Array(b.length - Math.min(len, b.length - from));
    out.set(b.subarray(0, from));
    out.set(b.subarray(from + len), from);
    return out;
  },
  truncate(b, header, r) {
    // Mostly inside the header, sometimes in the tensor data.
    const end = r() < 0.8 ? Math.floor(r() * header) : Math.floor(r() * b.length);
    return b.slice(0, end);
  },
};

/** A source that checks every read lies in the file and counts the bytes read. */
function countingSource(bytes: Uint8Array): ByteSource & { bytesRead: number } {
  const inner = bufferSource(bytes);
  const s = {
    size: inner.size,
    bytesRead: 0,
    read(position: number, length: number) {
      if (!(position >= 0 && length >= 0 && position + length <= inner.size)) throw new Error(`read outside the file: ${position}+${length} > ${inner.size}`);
      s.bytesRead += length;
      return inner.read(position, length);
    },
    close() {},
  };
  return s;
}

/** Everything the reader allocated from the file's claims is at most the file's size. */
function checkBounded(f: GgufFile, size: number): void {
  const visit = (a: GgufArray) => {
    const v = a.values;
    if (ArrayBuffer.isView(v)) {
      if (v.byteLength > size) throw new Error(`array of ${v.byteLength} bytes from a ${size}-byte file`);
    } else {
      if (v.length * 8 > size) throw new Error(`array of ${v.length} elements from a ${size}-byte file`);
      if (a.elementType === GgufValueType.ARRAY) for (const inner of v as GgufArray[]) visit(inner);
    }
  };
  for (const e of f.metadata.values()) if (typeof e.value === 'object') visit(e.value);
  if (f.tensors.length * 24 > size) throw new Error('more tensor infos than the file can hold');
  for (const t of f.tensors) if (t.offset + t.byteLength > size) throw new Error(`tensor ${t.name} outside the file`);
}

/** One case through the whole path. Returns whether the header parsed. */
function runCase(bytes: Uint8Array): boolean {
  const source = countingSource(bytes);
  let f: GgufFile;
  try {
    f = parseGguf(source, 'fuzz.gguf');
  } catch (e) {
    expectTypedLoadError(e);
    return false;
  } finally {
    // A window may be re-read where a value straddles it; never more than twice the file.
    if (source.bytesRead > 2 * bytes.length + 1024) throw new Error(`read ${source.bytesRead} bytes of a ${bytes.length}-byte file`);
  }
  checkBounded(f, bytes.length);
  try {
    ggufModelSpec(f, source);
  } catch (e) {
    expectTypedLoadError(e);
  }
  try {
    const tok = ggufTokenizer(f);
    const ids = tok.encode('Hello wörld <s> ab 🦙');
    tok.decode(ids, { skipSpecialTokens: false });
    tok.decode([0, 1, 2, 3, 300, 99999]);
  } catch (e) {
    expectTypedLoadError(e);
  }
  return true;
}

function expectTypedLoadError(e: unknown): void {
  if (!(e instanceof ModelLoadError || e instanceof UnsupportedArchitectureError)) throw e;
  // The reader's last-resort wrapper means some size went unchecked: that is a bug too.
  if (/cannot parse the GGUF header/.test(e.message)) throw e;
}

// Seeds: a written file with every value type, a model and a small vocabulary of each kind, plus
// real fixtures where ../shared is present.
function writtenSeeds(): Record<string, Uint8Array> {
  const arch = (k: string) => `llama.${k}`;
  const model = [
    kvString('general.architecture', 'llama'),
    kvU32(arch('context_length'), 64),
    kvU32(arch('embedding_length'), 32),
    kvU32(arch('block_count'), 1),
    kvU32(arch('feed_forward_length'), 64),
    kvU32(arch('attention.head_count'), 4),
    kvU32(arch('attention.head_count_kv'), 2),
    kvF32(arch('attention.layer_norm_rms_epsilon'), 1e-5),
  ];
  const tensors: WriterTensor[] = [
    ['token_embd.weight', [32, 16]], ['output_norm.weight', [32]], ['blk.0.attn_norm.weight', [32]], ['blk.0.attn_q.weight', [32, 32]],
    ['blk.0.attn_k.weight', [32, 16]], ['blk.0.attn_v.weight', [32, 16]], ['blk.0.attn_output.weight', [32, 32]], ['blk.0.ffn_norm.weight', [32]],
    ['blk.0.ffn_gate.weight', [32, 64]], ['blk.0.ffn_up.weight', [32, 64]], ['blk.0.ffn_down.weight', [64, 32]],
  ].map(([name, dims]) => ({ name: name as string, dims: dims as number[], type: (dims as number[]).length === 2 ? 8 : 0 }));
  tensors.push({ name: 'rope_freqs.weight', type: 0, dims: [4], data: new Uint8Array(new Float32Array([1, 2, 4, 8]).buffer) });
  const spm = [
    kvString('tokenizer.ggml.model', 'llama'),
    kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, ['<unk>', '<s>', '</s>', '▁', 'a', 'b', 'ab', '<0x41>']),
    kvArray('tokenizer.ggml.scores', GgufValueType.FLOAT32, [0, 0, 0, -1, -2, -3, -1.5, 0]),
    kvArray('tokenizer.ggml.token_type', GgufValueType.INT32, [2, 3, 3, 1, 1, 1, 1, 6]),
    kvU32('tokenizer.ggml.bos_token_id', 1),
    kvBool('tokenizer.ggml.add_bos_token', true),
    kvString('tokenizer.chat_template', '{% for m in messages %}{{ m.content }}{% endfor %}'),
  ];
  const bpe = [
    kvString('tokenizer.ggml.model', 'gpt2'),
    kvString('tokenizer.ggml.pre', 'llama-bpe'),
    kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, ['H', 'e', 'l', 'o', 'He', 'll', 'Hell', 'Ġ', '<|eot_id|>']),
    kvArray('tokenizer.ggml.token_type', GgufValueType.INT32, [1, 1, 1, 1, 1, 1, 1, 1, 3]),
    kvArray('tokenizer.ggml.merges', GgufValueType.STRING, ['H e', 'l l', 'He ll']),
  ];
  const everyType = [
    kvArray('x.nested', GgufValueType.ARRAY, [{ elementType: GgufValueType.STRING, values: ['a', 'bc'] }, { elementType: GgufValueType.INT64, values: [1n, -2n] }]),
    kvArray('x.bool', GgufValueType.BOOL, [true, false]),
    kvArray('x.f64', GgufValueType.FLOAT64, [1.5]),
    { key: 'x.u64', type: GgufValueType.UINT64, value: 7n },
    { key: 'x.i16', type: GgufValueType.INT16, value: -3 },
  ];
  return {
    'written llama + spm vocab (v3)': writeGguf({ kv: [...model, ...spm, ...everyType], tensors }),
    'written llama + bpe vocab (v2)': writeGguf({ version: 2, alignment: 64, kv: [...model, ...bpe], tensors }),
  };
}

function seeds(): Record<string, Uint8Array> {
  const out = writtenSeeds();
  if (HAVE_SHARED) {
    // Plain Uint8Array copies: a Buffer's slice() is a view, and mutations must not touch the seed.
    for (const name of ['stories260K-Q8_0.gguf', 'llama3-tiny-random-Q4_K_M.gguf', 'qwen2-tiny-random-Q4_0.gguf']) {
      out[name] = new Uint8Array(readFileSync(sharedPath('models', 'gguf', name)));
    }
  }
  return out;
}

describe('GGUF claims larger than the file', () => {
  // Each file claims 2^60 of something; a reader that trusted the claim would allocate exabytes
  // or loop for years. The claim must fail before any allocation, having read only the header.
  const claim = (build: (b: Buffer) => Buffer): Uint8Array => {
    const head = Buffer.alloc(24);
    head.write('GGUF', 0, 'latin1');
    head.writeUInt32LE(3, 4);
    return new Uint8Array(build(head));
  };
  const u32 = (v: number) => Buffer.from(new Uint32Array([v]).buffer);
  const u64 = (v: bigint) => Buffer.from(new BigUint64Array([v]).buffer);
  const key = (k: string) => Buffer.concat([u64(BigInt(k.length)), Buffer.from(k)]);
  const huge = 2n ** 60n;
  const cases: Record<string, Uint8Array> = {
    'tensor count': claim((h) => (h.writeBigUInt64LE(huge, 8), h)),
    'metadata count': claim((h) => (h.writeBigUInt64LE(huge, 16), h)),
    'key length': claim((h) => (h.writeBigUInt64LE(1n, 16), Buffer.concat([h, u64(huge), Buffer.alloc(16)]))),
  };
  const expected: Record<string, RegExp> = {
    'key length': /the length of a metadata key is 1152921504606846976, larger than any file/,
    'tensor of 2^60 elements': /dimension 0 of tensor 't' is 1152921504606846976, larger than any file/,
    'tensor dimensions multiplying past 2^53': /tensor 't' has more elements than any file can hold/,
  };
  for (const [name, type] of [['uint8', GgufValueType.UINT8], ['float64', GgufValueType.FLOAT64], ['string', GgufValueType.STRING], ['nested array', GgufValueType.ARRAY]] as const) {
    cases[`array of 2^60 ${name}`] = claim((h) => (h.writeBigUInt64LE(1n, 16), Buffer.concat([h, key('a'), u32(GgufValueType.ARRAY), u32(type), u64(huge), Buffer.alloc(64)])));
    cases[`array of 2^40 ${name}`] = claim((h) => (h.writeBigUInt64LE(1n, 16), Buffer.concat([h, key('a'), u32(GgufValueType.ARRAY), u32(type), u64(2n ** 40n), Buffer.alloc(64)])));
  }
  cases['tensor of 2^60 elements'] = claim((h) => (h.writeBigUInt64LE(1n, 8), Buffer.concat([h, key('t'), u32(1), u64(huge), u32(0), u64(0n), Buffer.alloc(32)])));
  cases['tensor dimensions multiplying past 2^53'] = claim((h) => (h.writeBigUInt64LE(1n, 8), Buffer.concat([h, key('t'), u32(4), u64(2n ** 20n), u64(2n ** 20n), u64(2n ** 20n), u64(2n ** 20n), u32(0), u64(0n), Buffer.alloc(32)])));

  for (const [name, bytes] of Object.entries(cases)) {
    it(`${name}: a ModelLoadError after reading at most the file`, () => {
      const source = countingSource(bytes);
      expect(() => parseGguf(source, name)).toThrow(ModelLoadError);
      expect(() => parseGguf(bytes, name)).toThrow(expected[name] ?? /larger than any file|needs \d+ bytes but only \d+ remain/);
      expect(source.bytesRead).toBeLessThanOrEqual(bytes.length);
    });
  }
});

describe('GGUF fuzzing', () => {
  it('every seed is valid as written', () => {
    for (const [name, bytes] of Object.entries(seeds())) {
      const f = parseGguf(bytes, name);
      expect(ggufModelSpec(f, bufferSource(bytes)).config.architecture, name).toMatch(/llama|qwen2/);
      expect(ggufTokenizer(f).encode('Hello', { addSpecialTokens: false }).length, name).toBeGreaterThan(0);
    }
  });

  for (const [name, bytes] of Object.entries(seeds())) {
    it(`mutations and truncations of ${name} give typed errors only`, () => {
      const header = Math.min(parseGguf(bytes).dataOffset + 64, bytes.length);
      let parsed = 0, cases = 0;
      const strategies = Object.entries(STRATEGIES);
      for (let i = 0; i < CASES_PER_SEED; i++) {
        const seed = 0x9e3779b9 ^ (i * 2654435761) ^ name.length;
        const r = xorshift32(seed);
        const [strategy, mutate] = strategies[i % strategies.length];
        const mutated = mutate(bytes, header, r);
        try {
          if (runCase(mutated)) parsed++;
        } catch (e) {
          throw new Error(`${name}: strategy ${strategy}, case ${i} (seed ${seed >>> 0}): ${(e as Error).stack}`);
        }
        cases++;
      }
      expect(cases).toBe(CASES_PER_SEED);
      console.log(`${name}: ${cases} cases, ${parsed} parsed`);
      // Some mutations land where they change nothing structural (metadata values): over enough
      // cases both outcomes occur, so the run is not all rejections at the first byte.
      if (cases >= 100) {
        expect(parsed).toBeGreaterThan(0);
        expect(parsed).toBeLessThan(cases);
      }
    });
  }
});
