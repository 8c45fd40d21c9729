// GGUF header reader: magic, version, metadata key/values, tensor infos, alignment and the
// offset of the tensor data. Reads the header only, never the weights, and treats every count,
// length, dimension and offset as hostile until it is checked against the bytes that remain.
import { endianness } from 'node:os';
import { ModelLoadError } from '../errors.js';
import { BoundedReader, bufferSource, fileSource, type ByteSource } from './gguf-source.js';
import {
  GGML_TYPES,
  GgufValueType,
  ggufFixedSize,
  ggufMinValueSize,
  ggufValueTypeName,
  isGgufValueType,
} from './gguf-types.js';

/** Array values: numbers as typed arrays (BOOL as 0/1 bytes), strings as string[], nested arrays as GgufArray[]. */
export type GgufArrayValues =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | string[]
  | GgufArray[];

export interface GgufArray {
  readonly elementType: GgufValueType;
  readonly values: GgufArrayValues;
}

/** A scalar uint64/int64 is a number when it is a safe integer, else a bigint. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufMetadataEntry {
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export interface GgufTensorInfo {
  name: string;
  /** ggml type code (lib/model/gguf-types.ts GGML_TYPES). */
  type: number;
  /** Dimensions as GGUF stores them: innermost (contiguous) first, ggml's `ne` order. */
  dims: number[];
  elementCount: number;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  /** The file path, or the label given to parseGguf. */
  path: string;
  version: 2 | 3;
  fileSize: number;
  alignment: number;
  /** Absolute offset where tensor data starts (tensor offsets in the file are relative to it). */
  dataOffset: number;
  metadata: Map<string, GgufMetadataEntry>;
  tensors: GgufTensorInfo[];
}

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // ggml's GGML_MAX_DIMS
const MAX_ARRAY_NESTING = 8; // deeper than any real file; bounds the recursion a hostile file can ask for
// The fewest bytes a metadata entry (key length, value type, 1-byte value) and a tensor info
// (name length, n_dims, type, offset) can take: claimed counts are checked against these.
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;
const HOST_IS_LE = endianness() === 'LE';

/** Reads the header of a GGUF file (never its weights). Throws ModelLoadError on any malformed or truncated input. */
export function readGgufFile(path: string): GgufFile {
  const source = fileSource(path);
  try {
    return parseGguf(source, path);
  } finally {
    source.close();
  }
}

/** Parses a GGUF header from a byte source; `label` names it in errors. */
export function parseGguf(source: ByteSource | Uint8Array, label = 'GGUF buffer'): GgufFile {
  const src = source instanceof Uint8Array ? bufferSource(source) : source;
  const r = new BoundedReader(src, label);
  try {
    return parseHeader(r, label);
  } catch (e) {
    if (e instanceof ModelLoadError) throw e;
    // Not reachable by design (every size is checked first); if it happens, it is still a load error, not a crash.
    throw new ModelLoadError(`${label}: cannot parse the GGUF header: ${(e as Error).message}`, { cause: e });
  }
}

function parseHeader(r: BoundedReader, label: string): GgufFile {
  r.context = 'the magic number';
  if (r.size < 4 || r.u32() !== GGUF_MAGIC) {
    throw new ModelLoadError(`${label}: not a GGUF file (it does not start with the bytes "GGUF")`);
  }
  r.context = 'the version';
  const version = r.u32();
  if (version === 1) {
    throw new ModelLoadError(`${label}: GGUF version 1 is not supported (it predates 64-bit counts): re-convert the model with a current llama.cpp`);
  }
  if (version === 0x02000000 || version === 0x03000000) {
    throw new ModelLoadError(`${label}: big-endian GGUF files are not supported: use the little-endian file of this model`);
  }
  if (version !== 2 && version !== 3) {
    throw new ModelLoadError(`${label}: GGUF version ${version} is not supported (versions 2 and 3 are)`);
  }
  r.context = 'the tensor and metadata counts';
  const tensorCount = r.size64('the tensor count');
  const kvCount = r.size64('the metadata count');
  r.require(tensorCount * MIN_TENSOR_INFO_BYTES + kvCount * MIN_KV_BYTES, `${tensorCount} tensor infos and ${kvCount} metadata entries`);

  const metadata = new Map<string, GgufMetadataEntry>();
  for (let i = 0; i < kvCount; i++) {
    r.context = `metadata entry ${i} of ${kvCount}`;
    const key = r.string('a metadata key');
    r.context = `metadata key '${key}'`;
    if (metadata.has(key)) r.fail(`duplicate metadata key '${key}'`);
    const type = readValueType(r);
    metadata.set(key, { type, value: readValue(r, type, 0) });
  }

  const alignment = readAlignment(metadata, label);
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  const relativeOffsets: number[] = [];
  for (let i = 0; i < tensorCount; i++) {
    r.context = `tensor info ${i} of ${tensorCount}`;
    const name = r.string('a tensor name');
    r.context = `tensor info '${name}'`;
    if (names.has(name)) r.fail(`duplicate tensor name '${name}'`);
    names.add(name);
    tensors.push(readTensorInfo(r, name));
    relativeOffsets.push(r.size64('the tensor data offset'));
  }

  // Tensor data starts at the next multiple of the alignment after the header.
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const rel = relativeOffsets[i];
    if (rel % alignment !== 0) {
      throw new ModelLoadError(`${label}: tensor '${t.name}' has data offset ${rel}, not a multiple of the alignment ${alignment}: the file is corrupt`);
    }
    t.offset = dataOffset + rel;
    if (t.offset + t.byteLength > r.size) {
      throw new ModelLoadError(
        `${label}: tensor '${t.name}' (${t.byteLength} bytes at offset ${t.offset}) lies beyond the end of the ${r.size}-byte file: ` +
          'the file is truncated (re-download it)',
      );
    }
  }
  return { path: label, version, fileSize: r.size, alignment, dataOffset, metadata, tensors };
}

function readValueType(r: BoundedReader): GgufValueType {
  const code = r.u32();
  if (!isGgufValueType(code)) r.fail(`unknown metadata value type ${code}`);
  return code;
}

function readValue(r: BoundedReader, type: GgufValueType, depth: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return r.u8();
    case GgufValueType.INT8:
      return (r.u8() << 24) >> 24;
    case GgufValueType.UINT16:
      return r.bytes(2, 'a uint16').readUInt16LE(0);
    case GgufValueType.INT16:
      return r.bytes(2, 'an int16').readInt16LE(0);
    case GgufValueType.UINT32:
      return r.u32();
    case GgufValueType.INT32:
      return r.bytes(4, 'an int32').readInt32LE(0);
    case GgufValueType.FLOAT32:
      return r.bytes(4, 'a float32').readFloatLE(0);
    case GgufValueType.BOOL:
      return r.u8() !== 0;
    case GgufValueType.STRING:
      return r.string('a string value');
    case GgufValueType.UINT64:
      return narrow(r.bytes(8, 'a uint64').readBigUInt64LE(0));
    case GgufValueType.INT64:
      return narrow(r.bytes(8, 'an int64').readBigInt64LE(0));
    case GgufValueType.FLOAT64:
      return r.bytes(8, 'a float64').readDoubleLE(0);
    case GgufValueType.ARRAY:
      return readArray(r, depth + 1);
  }
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readArray(r: BoundedReader, depth: number): GgufArray {
  if (depth > MAX_ARRAY_NESTING) r.fail(`arrays nested more than ${MAX_ARRAY_NESTING} deep`);
  const elementType = readValueType(r);
  const length = r.size64('the array length');
  const context = r.context;
  // The claim is checked before anything of its size exists: a 2^60-element array fails here.
  r.require(length * ggufMinValueSize(elementType), `an array of ${length} ${ggufValueTypeName(elementType)}`);
  if (elementType === GgufValueType.STRING) {
    const values: string[] = new Array(length);
    for (let i = 0; i < length; i++) {
      if ((i & 0xffff) === 0) r.context = `${context}, element ${i} of ${length}`;
      values[i] = r.string('an array string');
    }
    r.context = context;
    return { elementType, values };
  }
  if (elementType === GgufValueType.ARRAY) {
    const values: GgufArray[] = new Array(length);
    for (let i = 0; i < length; i++) {
      r.context = `${context}, element ${i} of ${length}`;
      values[i] = readArray(r, depth + 1);
    }
    r.context = context;
    return { elementType, values };
  }
  return { elementType, values: readNumericArray(r, elementType, length) };
}

function readNumericArray(r: BoundedReader, type: GgufValueType, length: number): GgufArrayValues {
  const size = ggufFixedSize(type);
  const out = newTypedArray(type, length);
  const dest = new Uint8Array(out.buffer);
  // Copy in window-sized pieces so a large array never needs a second buffer of its size.
  const perChunk = Math.max(1, Math.floor((64 * 1024) / size));
  for (let i = 0; i < length; i += perChunk) {
    const n = Math.min(perChunk, length - i);
    dest.set(r.bytes(n * size, 'array elements'), i * size);
  }
  if (!HOST_IS_LE && size > 1) swapBytes(dest, size);
  return out;
}

function newTypedArray(type: GgufValueType, length: number): Exclude<GgufArrayValues, string[] | GgufArray[]> {
  switch (type) {
    case GgufValueType.INT8:
      return new Int8Array(length);
    case GgufValueType.UINT16:
      return new Uint16Array(length);
    case GgufValueType.INT16:
      return new Int16Array(length);
    case GgufValueType.UINT32:
      return new Uint32Array(length);
    case GgufValueType.INT32:
      return new Int32Array(length);
    case GgufValueType.FLOAT32:
      return new Float32Array(length);
    case GgufValueType.UINT64:
      return new BigUint64Array(length);
    case GgufValueType.INT64:
      return new BigInt64Array(length);
    case GgufValueType.FLOAT64:
      return new Float64Array(length);
    default: // UINT8 and BOOL
      return new Uint8Array(length);
  }
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function readAlignment(metadata: Map<string, GgufMetadataEntry>, label: string): number {
  const entry = metadata.get('general.alignment');
  if (!entry) return DEFAULT_ALIGNMENT;
  const v = entry.value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 2 ** 30 || (v & (v - 1)) !== 0) {
    throw new ModelLoadError(`${label}: general.alignment is ${String(v)}; it must be a power of two`);
  }
  return v;
}

function readTensorInfo(r: BoundedReader, name: string): GgufTensorInfo {
  const nDims = r.u32();
  if (nDims > MAX_DIMS) r.fail(`tensor '${name}' has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`);
  const dims: number[] = [];
  let elementCount = 1;
  for (let d = 0; d < nDims; d++) {
    const n = r.size64(`dimension ${d} of tensor '${name}'`);
    if (n !== 0 && elementCount > Number.MAX_SAFE_INTEGER / n) r.fail(`tensor '${name}' has more elements than any file can hold`);
    elementCount *= n;
    dims.push(n);
  }
  const type = r.u32();
  const info = GGML_TYPES.get(type);
  if (!info) r.fail(`tensor '${name}' has ggml type ${type}, which is not a known ggml type (a newer or retired format?)`);
  const rowElems = dims.length ? dims[0] : 1;
  if (rowElems % info.blockElems !== 0) {
    r.fail(`tensor '${name}' of type ${info.name} has rows of ${rowElems} elements, not a multiple of its block size ${info.blockElems}`);
  }
  const byteLength = (elementCount / info.blockElems) * info.blockBytes;
  if (byteLength > r.size) r.fail(`tensor '${name}' claims ${byteLength} bytes, more than the whole ${r.size}-byte file`);
  return { name, type, dims, elementCount, offset: 0, byteLength };
}
