// safetensors headers: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the data. Only headers are read here; native code maps the
// data. Every size and offset is checked against the file before anyone uses it.
import { open } from 'node:fs/promises';
import path from 'node:path';

import { ModelLoadError } from '../errors.js';
import type { WeightDType } from './types.js';

export interface SafetensorsTensor {
  name: string;
  file: string;
  dtype: WeightDType;
  shape: number[];
  /** Absolute offset of the first byte in the file. */
  offset: number;
  byteLength: number;
}

const DTYPES: Record<string, { dtype: WeightDType; bytes: number }> = {
  F32: { dtype: 'F32', bytes: 4 },
  F16: { dtype: 'F16', bytes: 2 },
  BF16: { dtype: 'BF16', bytes: 2 },
};

// Real headers are a few MB at most; refuse absurd lengths before allocating.
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export async function readSafetensorsHeader(file: string): Promise<SafetensorsTensor[]> {
  const name = path.basename(file);
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw new ModelLoadError(`cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const size = (await handle.stat()).size;
    if (size < 8) throw new ModelLoadError(`${name} is truncated: ${size} bytes, too short for a safetensors header`);
    const lengthBytes = Buffer.alloc(8);
    await handle.read(lengthBytes, 0, 8, 0);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, size - 8)))
      throw new ModelLoadError(
        `${name} is not a valid safetensors file: its header claims ${headerLength} bytes but the file has ${size} (truncated or corrupt?)`,
      );
    const header = Buffer.alloc(Number(headerLength));
    await handle.read(header, 0, header.length, 8);
    let json: unknown;
    try {
      json = JSON.parse(header.toString('utf8'));
    } catch (e) {
      throw new ModelLoadError(`${name} is not a valid safetensors file: its header is not JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new ModelLoadError(`${name}: the safetensors header is not a JSON object`);
    const dataStart = 8 + header.length;
    const tensors: SafetensorsTensor[] = [];
    for (const [tensorName, entry] of Object.entries(json as Record<string, unknown>)) {
      if (tensorName === '__metadata__') continue;
      tensors.push(checkEntry(name, file, tensorName, entry, dataStart, size));
    }
    return tensors;
  } finally {
    await handle.close();
  }
}

function checkEntry(name: string, file: string, tensorName: string, entry: unknown, dataStart: number, size: number): SafetensorsTensor {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const where = `${name}: tensor ${tensorName}`;
  if (typeof e !== 'object' || e === null) throw new ModelLoadError(`${where}: malformed header entry`);
  const dtype = typeof e.dtype === 'string' ? DTYPES[e.dtype] : undefined;
  if (!dtype)
    throw new ModelLoadError(`${where}: dtype ${JSON.stringify(e.dtype)} is not supported (supported: F32, F16, BF16)`);
  const shape = e.shape;
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new ModelLoadError(`${where}: malformed shape ${JSON.stringify(shape)}`);
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0))
    throw new ModelLoadError(`${where}: malformed data_offsets ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as [number, number];
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (end < begin || end - begin !== elements * dtype.bytes)
    throw new ModelLoadError(
      `${where}: ${end - begin} bytes for a ${dtype.dtype} tensor of shape [${shape.join(', ')}] (expected ${elements * dtype.bytes})`,
    );
  if (dataStart + end > size)
    throw new ModelLoadError(
      `${where} ends at byte ${dataStart + end} but the file has ${size} bytes: the file is truncated (re-download it)`,
    );
  return { name: tensorName, file, dtype: dtype.dtype, shape: shape as number[], offset: dataStart + begin, byteLength: end - begin };
}
