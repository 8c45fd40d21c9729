// A small GGUF writer for tests: builds well-formed files (every value type, nested arrays,
// any alignment, v2 or v3) from which the reader tests and the fuzzer start, and hostile files
// with claims no real file makes.
import { GGML_TYPES, GgufValueType } from '../../lib/model/gguf-types.js';

export interface WriterArray {
  elementType: GgufValueType;
  values: ArrayLike<number | bigint | boolean | string | WriterArray>;
}
export type WriterValue = number | bigint | boolean | string | WriterArray;

export interface WriterKv {
  key: string;
  type: GgufValueType;
  value: WriterValue;
}

export interface WriterTensor {
  name: string;
  type: number;
  /** ggml ne order: innermost first. */
  dims: number[];
  /** Defaults to zeros of the size the type and dims imply. */
  data?: Uint8Array;
}

export interface WriterOptions {
  version?: number;
  alignment?: number;
  kv?: WriterKv[];
  tensors?: WriterTensor[];
}

export const kvString = (key: string, value: string): WriterKv => ({ key, type: GgufValueType.STRING, value });
export const kvU32 = (key: string, value: number): WriterKv => ({ key, type: GgufValueType.UINT32, value });
export const kvI32 = (key: string, value: number): WriterKv => ({ key, type: GgufValueType.INT32, value });
export const kvF32 = (key: string, value: number): WriterKv => ({ key, type: GgufValueType.FLOAT32, value });
export const kvBool = (key: string, value: boolean): WriterKv => ({ key, type: GgufValueType.BOOL, value });
export const kvArray = (key: string, elementType: GgufValueType, values: WriterArray['values']): WriterKv => ({
  key,
  type: GgufValueType.ARRAY,
  value: { elementType, values },
});

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  pad(alignment: number): void {
    const rem = this.length % alignment;
    if (rem) this.push(Buffer.alloc(alignment - rem));
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

function writeScalar(sink: ByteSink, type: GgufValueType, v: WriterValue): void {
  const b8 = Buffer.alloc(8);
  switch (type) {
    case GgufValueType.UINT8: b8.writeUInt8(Number(v)); return sink.push(b8.subarray(0, 1));
    case GgufValueType.INT8: b8.writeInt8(Number(v)); return sink.push(b8.subarray(0, 1));
    case GgufValueType.BOOL: b8.writeUInt8(v ? 1 : 0); return sink.push(b8.subarray(0, 1));
    case GgufValueType.UINT16: b8.writeUInt16LE(Number(v)); return sink.push(b8.subarray(0, 2));
    case GgufValueType.INT16: b8.writeInt16LE(Number(v)); return sink.push(b8.subarray(0, 2));
    case GgufValueType.UINT32: b8.writeUInt32LE(Number(v)); return sink.push(b8.subarray(0, 4));
    case GgufValueType.INT32: b8.writeInt32LE(Number(v)); return sink.push(b8.subarray(0, 4));
    case GgufValueType.FLOAT32: b8.writeFloatLE(Number(v)); return sink.push(b8.subarray(0, 4));
    case GgufValueType.UINT64: b8.writeBigUInt64LE(BigInt(v as number)); return sink.push(b8);
    case GgufValueType.INT64: b8.writeBigInt64LE(BigInt(v as number)); return sink.push(b8);
    case GgufValueType.FLOAT64: b8.writeDoubleLE(Number(v)); return sink.push(b8);
    case GgufValueType.STRING: return sink.string(String(v));
    case GgufValueType.ARRAY: {
      const a = v as WriterArray;
      sink.u32(a.elementType);
      sink.u64(a.values.length);
      for (let i = 0; i < a.values.length; i++) writeScalar(sink, a.elementType, a.values[i]);
      return;
    }
  }
}

export function tensorByteLength(type: number, dims: number[]): number {
  const info = GGML_TYPES.get(type);
  if (!info) throw new Error(`writer: unknown ggml type ${type}`);
  const n = dims.reduce((a, b) => a * b, 1);
  return (n / info.blockElems) * info.blockBytes;
}

/** A GGUF file in memory. */
export function writeGguf(opts: WriterOptions): Uint8Array {
  const alignment = opts.alignment ?? 32;
  const kv = [...(opts.kv ?? [])];
  if (opts.alignment !== undefined && !kv.some((e) => e.key === 'general.alignment')) kv.unshift(kvU32('general.alignment', alignment));
  const tensors = opts.tensors ?? [];
  const sink = new ByteSink();
  sink.push(Buffer.from('GGUF', 'latin1'));
  sink.u32(opts.version ?? 3);
  sink.u64(tensors.length);
  sink.u64(kv.length);
  for (const e of kv) {
    sink.string(e.key);
    sink.u32(e.type);
    writeScalar(sink, e.type, e.value);
  }
  let offset = 0;
  const datas: Uint8Array[] = [];
  for (const t of tensors) {
    sink.string(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(t.type);
    sink.u64(offset);
    const data = t.data ?? new Uint8Array(tensorByteLength(t.type, t.dims));
    datas.push(data);
    offset += Math.ceil(data.length / alignment) * alignment;
  }
  sink.pad(alignment);
  for (const d of datas) {
    sink.push(Buffer.from(d));
    sink.pad(alignment);
  }
  return sink.bytes();
}
