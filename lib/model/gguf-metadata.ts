// Typed access to GGUF metadata: each getter checks the value's type and says which key was
// wrong and what it held, so a model config or vocabulary built from a file never runs on a
// value of the wrong kind.
import { ModelLoadError } from '../errors.js';
import type { GgufArray, GgufFile, GgufValue } from './gguf.js';
import { GgufValueType, ggufValueTypeName } from './gguf-types.js';

function describe(v: GgufValue): string {
  if (typeof v === 'object') return `an array of ${v.values.length} ${ggufValueTypeName(v.elementType)}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return String(v);
}

function wrongType(file: GgufFile, key: string, want: string, v: GgufValue): never {
  throw new ModelLoadError(`${file.path}: metadata ${key} should be ${want}, the file has ${describe(v)}: the file is corrupt or was written by a broken converter`);
}

export function hasKey(file: GgufFile, key: string): boolean {
  return file.metadata.has(key);
}

export function getString(file: GgufFile, key: string): string | undefined {
  const e = file.metadata.get(key);
  if (!e) return undefined;
  if (typeof e.value !== 'string') wrongType(file, key, 'a string', e.value);
  return e.value;
}

/** A non-negative integer of any integer type (uint8 … int64) that fits a JavaScript number. */
export function getCount(file: GgufFile, key: string): number | undefined {
  const e = file.metadata.get(key);
  if (!e) return undefined;
  const v = e.value;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || e.type === GgufValueType.FLOAT32 || e.type === GgufValueType.FLOAT64) {
    wrongType(file, key, 'a non-negative integer', v);
  }
  return v;
}

/** A signed integer of any integer type: token ids use -1 for "none". */
export function getInteger(file: GgufFile, key: string): number | undefined {
  const e = file.metadata.get(key);
  if (!e) return undefined;
  const v = e.value;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || e.type === GgufValueType.FLOAT32 || e.type === GgufValueType.FLOAT64) {
    wrongType(file, key, 'an integer', v);
  }
  return v;
}

/** A finite number of any numeric type. */
export function getNumber(file: GgufFile, key: string): number | undefined {
  const e = file.metadata.get(key);
  if (!e) return undefined;
  if (typeof e.value !== 'number' || !Number.isFinite(e.value)) wrongType(file, key, 'a number', e.value);
  return e.value;
}

export function getBool(file: GgufFile, key: string): boolean | undefined {
  const e = file.metadata.get(key);
  if (!e) return undefined;
  if (typeof e.value !== 'boolean') wrongType(file, key, 'a boolean', e.value);
  return e.value;
}

function getArray(file: GgufFile, key: string): GgufArray | undefined {
  const e = file.metadata.get(key);
  if (!e) return undefined;
  if (typeof e.value !== 'object') wrongType(file, key, 'an array', e.value);
  return e.value;
}

export function getStringArray(file: GgufFile, key: string): string[] | undefined {
  const a = getArray(file, key);
  if (!a) return undefined;
  if (a.elementType !== GgufValueType.STRING) wrongType(file, key, 'an array of strings', a);
  return a.values as string[];
}

/** A numeric array as numbers (float or integer element types; 64-bit integers must be safe). */
export function getNumberArray(file: GgufFile, key: string): ArrayLike<number> | undefined {
  const a = getArray(file, key);
  if (!a) return undefined;
  const t = a.elementType;
  if (t === GgufValueType.STRING || t === GgufValueType.ARRAY || t === GgufValueType.BOOL) wrongType(file, key, 'an array of numbers', a);
  if (t === GgufValueType.UINT64 || t === GgufValueType.INT64) {
    const big = a.values as BigInt64Array | BigUint64Array;
    const out = new Float64Array(big.length);
    for (let i = 0; i < big.length; i++) {
      const n = Number(big[i]);
      if (!Number.isSafeInteger(n)) wrongType(file, key, 'an array of numbers that fit a double', a);
      out[i] = n;
    }
    return out;
  }
  return a.values as ArrayLike<number>;
}
