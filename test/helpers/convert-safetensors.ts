// Writes a copy of a float32 Hugging Face model directory with its weights converted to bfloat16
// or float16 (round to nearest even), for tests of the half-precision paths.
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function toBf16(f: number, scratch: Float32Array, bits: Uint32Array): number {
  scratch[0] = f;
  const b = bits[0];
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

function toF16(f: number): number {
  // Through the exact float64 value: round to nearest even at 10 mantissa bits.
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  if (Number.isNaN(f)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -24 / 2) return sign;
  let exp = Math.floor(Math.log2(a));
  if (exp < -14) {
    const m = roundEven(a / 2 ** -24);
    return sign | m;
  }
  let m = roundEven((a / 2 ** exp - 1) * 1024);
  if (m === 1024) {
    m = 0;
    exp++;
  }
  return sign | ((exp + 15) << 10) | m;
}

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function convertModelDir(src: string, dtype: 'BF16' | 'F16'): string {
  const out = mkdtempSync(path.join(tmpdir(), `pagedinfer-${dtype.toLowerCase()}-`));
  const scratch = new Float32Array(1);
  const bits = new Uint32Array(scratch.buffer);
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.safetensors')) {
      copyFileSync(path.join(src, f), path.join(out, f));
      continue;
    }
    const buf = readFileSync(path.join(src, f));
    const headerLen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
    const dataStart = 8 + headerLen;
    const newHeader: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const [name, e] of Object.entries(header) as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][]) {
      if (name === '__metadata__') {
        newHeader[name] = e;
        continue;
      }
      const src32 = new Float32Array(buf.buffer.slice(buf.byteOffset + dataStart + e.data_offsets[0], buf.byteOffset + dataStart + e.data_offsets[1]));
      const half = new Uint16Array(src32.length);
      for (let i = 0; i < src32.length; i++) half[i] = dtype === 'BF16' ? toBf16(src32[i], scratch, bits) : toF16(src32[i]);
      chunks.push(Buffer.from(half.buffer));
      newHeader[name] = { dtype, shape: e.shape, data_offsets: [offset, offset + half.byteLength] };
      offset += half.byteLength;
    }
    let json = JSON.stringify(newHeader);
    json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);  // keep the data 8-byte aligned
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(path.join(out, f), Buffer.concat([len, Buffer.from(json), ...chunks]));
  }
  return out;
}
