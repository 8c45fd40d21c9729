import { readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../lib/errors.js';
import { parseGguf, readGgufFile, type GgufArray, type GgufFile } from '../lib/model/gguf.js';
import { getCount, getString, getStringArray } from '../lib/model/gguf-metadata.js';
import { bufferSource } from '../lib/model/gguf-source.js';
import { GgufValueType } from '../lib/model/gguf-types.js';
import { kvArray, kvString, kvU32, writeGguf } from './helpers/gguf-writer.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';

// Block geometry of the types the fixtures use, written out here independently of the reader's table.
const BLOCK: Record<number, [elems: number, bytes: number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0: f16 scale + 16 bytes of nibbles
  8: [32, 34], // Q8_0: f16 scale + 32 int8
  12: [256, 144], // Q4_K: d, dmin, 12 bytes of scales, 128 bytes of nibbles
  14: [256, 210], // Q6_K: 128 low nibbles, 64 high bits, 16 scales, d
  30: [1, 2], // BF16
};
const TYPE_NAMES: Record<number, string> = { 0: 'F32', 1: 'F16', 2: 'Q4_0', 8: 'Q8_0', 12: 'Q4_K', 14: 'Q6_K', 30: 'BF16' };

/** The "GGUF fixtures" table of MANIFEST.md: file → bytes and tensor type counts ("Q4_K×12 Q6_K×3 F32×6"). */
function manifestFixtures(): Map<string, { bytes: number; types: Record<string, number> }> {
  const out = new Map<string, { bytes: number; types: Record<string, number> }>();
  for (const line of readFileSync(sharedPath('models', 'MANIFEST.md'), 'utf8').split('\n')) {
    const m = /^\| ([\w.-]+\.gguf) \| (\d+) \| `[0-9a-f]+` \| ([^|]+) \|/.exec(line);
    if (!m) continue;
    const types: Record<string, number> = {};
    for (const part of m[3].trim().split(/\s+/)) {
      const [name, count] = part.split('×');
      types[name] = Number(count);
    }
    out.set(m[1], { bytes: Number(m[2]), types });
  }
  return out;
}

function fixtureFiles(): string[] {
  const dir = sharedPath('models', 'gguf');
  const files = readdirSync(dir).filter((f) => f.endsWith('.gguf')).map((f) => `${dir}/${f}`);
  const vocabDir = sharedPath('models', 'tokenizer-vectors');
  files.push(...readdirSync(vocabDir).filter((f) => f.endsWith('.gguf')).map((f) => `${vocabDir}/${f}`));
  files.push(sharedPath('models', 'stories260K-gguf', 'stories260K.gguf'));
  return files;
}

/** Layout invariants every well-formed file satisfies, recomputed from the block sizes above. */
function checkLayout(f: GgufFile): void {
  expect(f.dataOffset % f.alignment).toBe(0);
  const sorted = [...f.tensors].sort((a, b) => a.offset - b.offset);
  let end = f.dataOffset;
  for (const t of sorted) {
    const [elems, bytes] = BLOCK[t.type];
    const count = t.dims.reduce((a, b) => a * b, 1);
    expect(t.elementCount).toBe(count);
    expect(t.dims[0] % elems).toBe(0);
    expect(t.byteLength).toBe((count / elems) * bytes);
    expect(t.offset).toBeGreaterThanOrEqual(end); // no overlap
    expect((t.offset - f.dataOffset) % f.alignment).toBe(0);
    end = t.offset + t.byteLength;
  }
  if (!f.tensors.length) return; // vocabulary-only files may end before the (empty) data section's alignment
  expect(end).toBeLessThanOrEqual(f.fileSize);
  // Writers pad each tensor to the alignment, so the last one ends within one alignment of the file's end.
  expect(f.fileSize - end).toBeLessThan(f.alignment);
}

describe.skipIf(!HAVE_SHARED)(sharedTitle('GGUF reader on the shared fixtures'), () => {
  it('parses every fixture and its layout is consistent with the file size and block sizes', () => {
    const files = fixtureFiles();
    expect(files.length).toBeGreaterThanOrEqual(21);
    for (const file of files) {
      const f = readGgufFile(file);
      expect(f.version).toBe(3);
      expect(f.alignment).toBe(32);
      expect(f.fileSize).toBe(statSync(file).size);
      checkLayout(f);
    }
  });

  it('matches the sizes and tensor type counts that MANIFEST.md lists for each fixture', () => {
    const manifest = manifestFixtures();
    expect(manifest.size).toBe(18);
    for (const [name, want] of manifest) {
      const f = readGgufFile(sharedPath('models', 'gguf', name));
      expect(f.fileSize, name).toBe(want.bytes);
      const types: Record<string, number> = {};
      for (const t of f.tensors) types[TYPE_NAMES[t.type]] = (types[TYPE_NAMES[t.type]] ?? 0) + 1;
      expect(types, name).toEqual(want.types);
    }
  });

  it('reads the known metadata of the llama.cpp-converted stories260K', () => {
    const f = readGgufFile(sharedPath('models', 'stories260K-gguf', 'stories260K.gguf'));
    expect(getString(f, 'general.architecture')).toBe('llama');
    expect(getCount(f, 'llama.context_length')).toBe(2048); // the converter's default, per MANIFEST
    expect(f.metadata.has('llama.rope.freq_base')).toBe(false);
    expect(getCount(f, 'llama.embedding_length')).toBe(64);
    expect(f.tensors).toHaveLength(48); // output.weight stored although tied
    expect(f.tensors.every((t) => t.type === 0)).toBe(true);
    const tokens = getStringArray(f, 'tokenizer.ggml.tokens')!;
    expect(tokens).toHaveLength(512);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(getString(f, 'tokenizer.ggml.model')).toBe('llama');
    const embd = f.tensors.find((t) => t.name === 'token_embd.weight')!;
    expect(embd.dims).toEqual([64, 512]);
  });

  it('reads vocabularies, merges and chat templates', () => {
    const gpt2 = readGgufFile(sharedPath('models', 'tokenizer-vectors', 'ggml-vocab-gpt-2.gguf'));
    expect(gpt2.tensors).toHaveLength(0);
    expect(getStringArray(gpt2, 'tokenizer.ggml.tokens')).toHaveLength(50257);
    expect(getStringArray(gpt2, 'tokenizer.ggml.merges')![0]).toBe('Ġ t');
    expect(getStringArray(gpt2, 'tokenizer.ggml.merges')).toHaveLength(50000);
    expect(getString(gpt2, 'tokenizer.ggml.pre')).toBe('gpt-2');
    const llama = readGgufFile(sharedPath('models', 'gguf', 'llama-tiny-random-F32.gguf'));
    expect(getString(llama, 'tokenizer.chat_template')).toContain('[INST]');
    const scores = llama.metadata.get('tokenizer.ggml.scores')!.value as GgufArray;
    expect(scores.elementType).toBe(GgufValueType.FLOAT32);
    expect(scores.values).toBeInstanceOf(Float32Array);
    expect(scores.values.length).toBe(32000);
  });

  it('reads only the header of a large file (a bounded window, never all the weights)', () => {
    const bytes = readFileSync(sharedPath('models', 'gguf', 'llama-tiny-random-F32.gguf'));
    const inner = bufferSource(bytes);
    let readBytes = 0;
    let furthest = 0;
    const f = parseGguf({ size: inner.size, read: (p, n) => ((readBytes += n), (furthest = Math.max(furthest, p + n)), inner.read(p, n)), close() {} });
    expect(f.tensors).toHaveLength(20);
    expect(furthest).toBeLessThanOrEqual(f.dataOffset + 256 * 1024);
    expect(readBytes).toBeLessThanOrEqual(f.dataOffset + 256 * 1024);
    expect(f.fileSize).toBeGreaterThan(18 * f.dataOffset);
  });
});

describe('GGUF reader on written files', () => {
  const allTypes = [
    { key: 'u8', type: GgufValueType.UINT8, value: 250 },
    { key: 'i8', type: GgufValueType.INT8, value: -5 },
    { key: 'u16', type: GgufValueType.UINT16, value: 65000 },
    { key: 'i16', type: GgufValueType.INT16, value: -30000 },
    { key: 'u32', type: GgufValueType.UINT32, value: 4294967295 },
    { key: 'i32', type: GgufValueType.INT32, value: -2147483648 },
    { key: 'f32', type: GgufValueType.FLOAT32, value: 0.5 },
    { key: 'bool', type: GgufValueType.BOOL, value: true },
    { key: 'str', type: GgufValueType.STRING, value: 'héllo ▁ 🦙' },
    { key: 'u64', type: GgufValueType.UINT64, value: 2n ** 63n },
    { key: 'u64small', type: GgufValueType.UINT64, value: 12345 },
    { key: 'i64', type: GgufValueType.INT64, value: -(2n ** 60n) },
    { key: 'f64', type: GgufValueType.FLOAT64, value: Math.PI },
  ];

  it('round-trips every value type, arrays of each, and nested arrays (v2 and v3)', () => {
    const arrays = [
      kvArray('a.u8', GgufValueType.UINT8, [1, 2, 255]),
      kvArray('a.i8', GgufValueType.INT8, [-1, 2]),
      kvArray('a.u16', GgufValueType.UINT16, [1, 65535]),
      kvArray('a.i16', GgufValueType.INT16, [-1, 7]),
      kvArray('a.u32', GgufValueType.UINT32, [0, 4294967295]),
      kvArray('a.i32', GgufValueType.INT32, [-7, 7]),
      kvArray('a.f32', GgufValueType.FLOAT32, [1.5, -2.25]),
      kvArray('a.bool', GgufValueType.BOOL, [true, false, true]),
      kvArray('a.str', GgufValueType.STRING, ['a', '', 'ü']),
      kvArray('a.u64', GgufValueType.UINT64, [1n, 2n ** 64n - 1n]),
      kvArray('a.i64', GgufValueType.INT64, [-1n, 5n]),
      kvArray('a.f64', GgufValueType.FLOAT64, [1e300]),
      kvArray('a.empty', GgufValueType.FLOAT32, []),
      kvArray('a.nested', GgufValueType.ARRAY, [
        { elementType: GgufValueType.STRING, values: ['x', 'y'] },
        { elementType: GgufValueType.ARRAY, values: [{ elementType: GgufValueType.INT32, values: [3] }] },
      ]),
    ];
    for (const version of [2, 3]) {
      const f = parseGguf(writeGguf({ version, kv: [...allTypes, ...arrays] }));
      expect(f.version).toBe(version);
      for (const e of allTypes) {
        const got = f.metadata.get(e.key)!;
        expect(got.type).toBe(e.type);
        const want = typeof e.value === 'bigint' && e.value >= -(2n ** 53n) && e.value < 2n ** 53n ? Number(e.value) : e.value;
        expect(got.value).toEqual(want);
      }
      const arr = (k: string) => f.metadata.get(k)!.value as GgufArray;
      expect(Array.from(arr('a.u8').values as Uint8Array)).toEqual([1, 2, 255]);
      expect(arr('a.i8').values).toEqual(new Int8Array([-1, 2]));
      expect(arr('a.u16').values).toEqual(new Uint16Array([1, 65535]));
      expect(arr('a.i16').values).toEqual(new Int16Array([-1, 7]));
      expect(arr('a.u32').values).toEqual(new Uint32Array([0, 4294967295]));
      expect(arr('a.i32').values).toEqual(new Int32Array([-7, 7]));
      expect(arr('a.f32').values).toEqual(new Float32Array([1.5, -2.25]));
      expect(arr('a.bool')).toEqual({ elementType: GgufValueType.BOOL, values: new Uint8Array([1, 0, 1]) });
      expect(arr('a.str').values).toEqual(['a', '', 'ü']);
      expect(arr('a.u64').values).toEqual(new BigUint64Array([1n, 2n ** 64n - 1n]));
      expect(arr('a.i64').values).toEqual(new BigInt64Array([-1n, 5n]));
      expect(arr('a.f64').values).toEqual(new Float64Array([1e300]));
      expect(arr('a.empty').values).toHaveLength(0);
      const nested = arr('a.nested').values as GgufArray[];
      expect(nested[0].values).toEqual(['x', 'y']);
      expect(((nested[1].values as GgufArray[])[0].values as Int32Array)[0]).toBe(3);
    }
  });

  it('honours general.alignment for the data offset and the tensor offsets', () => {
    const bytes = writeGguf({
      alignment: 256,
      kv: [kvString('general.architecture', 'llama')],
      tensors: [
        { name: 'a', type: 0, dims: [3] },
        { name: 'b', type: 8, dims: [64, 2] },
      ],
    });
    const f = parseGguf(bytes);
    expect(f.alignment).toBe(256);
    expect(f.dataOffset % 256).toBe(0);
    expect(f.tensors.map((t) => t.offset - f.dataOffset)).toEqual([0, 256]);
    expect(f.tensors[1]).toMatchObject({ dims: [64, 2], elementCount: 128, byteLength: 4 * 34 });
  });

  it('parses a 150k-token vocabulary', () => {
    const tokens = Array.from({ length: 150_000 }, (_, i) => `tok${i}▁`);
    const f = parseGguf(writeGguf({ kv: [kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, tokens), kvArray('tokenizer.ggml.scores', GgufValueType.FLOAT32, new Float32Array(150_000))] }));
    const got = getStringArray(f, 'tokenizer.ggml.tokens')!;
    expect(got).toHaveLength(150_000);
    expect(got[149_999]).toBe('tok149999▁');
  });

  const rejects = (bytes: Uint8Array, message: RegExp) => {
    expect(() => parseGguf(bytes)).toThrow(ModelLoadError);
    expect(() => parseGguf(bytes)).toThrow(message);
  };

  it('reports files it cannot open as load errors', () => {
    expect(() => readGgufFile('/nonexistent/model.gguf')).toThrow(ModelLoadError);
    expect(() => readGgufFile('/nonexistent/model.gguf')).toThrow(/cannot open \/nonexistent\/model.gguf/);
    expect(() => readGgufFile(tmpdir())).toThrow(/is not a file/);
  });

  it('rejects other formats and versions with a clear reason', () => {
    rejects(new Uint8Array([1, 2, 3]), /not a GGUF file/);
    rejects(new TextEncoder().encode('PK\u0003\u0004 not a gguf at all'), /not a GGUF file/);
    rejects(writeGguf({ version: 1 }), /version 1 is not supported/);
    rejects(writeGguf({ version: 4 }), /version 4 is not supported/);
    const be = writeGguf({ version: 3 });
    Buffer.from(be.buffer).writeUInt32BE(3, 4);
    rejects(be, /big-endian/);
  });

  it('rejects malformed headers: duplicates, unknown types, bad alignment, bad tensors', () => {
    rejects(writeGguf({ kv: [kvU32('a', 1), kvU32('a', 2)] }), /duplicate metadata key 'a'/);
    rejects(writeGguf({ kv: [{ key: 'x', type: 13 as GgufValueType, value: 0 }] }), /unknown metadata value type 13/);
    rejects(writeGguf({ alignment: 48 }), /general.alignment is 48/);
    rejects(writeGguf({ kv: [kvString('general.alignment', '32')] }), /general.alignment/);
    rejects(writeGguf({ tensors: [{ name: 't', type: 0, dims: [1] }, { name: 't', type: 0, dims: [1] }] }), /duplicate tensor name 't'/);
    rejects(writeGguf({ tensors: [{ name: 't', type: 0, dims: [1, 1, 1, 1, 1] }] }), /5 dimensions/);
    rejects(writeGguf({ tensors: [{ name: 't', type: 4 as number, dims: [32], data: new Uint8Array(32) }] }), /ggml type 4/);
    rejects(writeGguf({ tensors: [{ name: 't', type: 8, dims: [33], data: new Uint8Array(34) }] }), /not a multiple of its block size 32/);
    const nested = { elementType: GgufValueType.ARRAY, values: [] as unknown[] };
    let deep: typeof nested = nested;
    for (let i = 0; i < 20; i++) deep = { elementType: GgufValueType.ARRAY, values: [deep] };
    rejects(writeGguf({ kv: [{ key: 'deep', type: GgufValueType.ARRAY, value: deep as never }] }), /nested more than/);
  });

  it('rejects tensors outside the file and misaligned offsets', () => {
    const good = writeGguf({ tensors: [{ name: 'w', type: 0, dims: [16, 4] }] });
    rejects(good.subarray(0, good.length - 4), /tensor 'w' .* lies beyond the end/);
    const f = parseGguf(good);
    // The relative offset is the last 8 bytes of the tensor info, just before the padding.
    const infoEnd = f.dataOffset - ((f.dataOffset - headerLength(good)) % 32);
    const misaligned = good.slice();
    Buffer.from(misaligned.buffer).writeBigUInt64LE(4n, infoEnd - 8);
    rejects(misaligned, /offset 4, not a multiple of the alignment 32/);
  });

  it('rejects claims larger than the file before allocating anything', () => {
    // A 2^60-element array of uint8: a reader that trusted it would try to allocate an exabyte.
    const huge = writeGguf({ kv: [kvArray('a', GgufValueType.UINT8, [7, 8, 9])] });
    const at = Buffer.from(huge).indexOf(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 7])); // the array length, then the data
    Buffer.from(huge.buffer).writeBigUInt64LE(2n ** 60n, at);
    rejects(huge, /larger than any file/);
    Buffer.from(huge.buffer).writeBigUInt64LE(2n ** 40n, at);
    rejects(huge, /an array of 1099511627776 UINT8 needs 1099511627776 bytes/);
    // Counts: 2^50 metadata entries, and a string claiming 2^40 bytes.
    const kv = writeGguf({ kv: [kvString('k', 'v')] });
    Buffer.from(kv.buffer).writeBigUInt64LE(2n ** 50n, 16);
    rejects(kv, /metadata entries needs/);
    const s = writeGguf({ kv: [kvString('k', 'v')] });
    Buffer.from(s.buffer).writeBigUInt64LE(2n ** 40n, 24);
    rejects(s, /a metadata key \(1099511627776 bytes\) needs/);
    // A tensor whose dimensions multiply past 2^53.
    const t = writeGguf({ tensors: [{ name: 't', type: 0, dims: [2 ** 30, 2 ** 30], data: new Uint8Array(0) }] });
    rejects(t, /more elements than any file can hold|more than the whole/);
  });
});

/** Bytes up to the end of the last tensor info (before the alignment padding), for a file with one tensor and no metadata. */
function headerLength(bytes: Uint8Array): number {
  const b = Buffer.from(bytes);
  let p = 24;
  const nameLen = Number(b.readBigUInt64LE(p));
  p += 8 + nameLen;
  const nDims = b.readUInt32LE(p);
  return p + 4 + 8 * nDims + 4 + 8;
}
