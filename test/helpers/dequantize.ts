// Plain dequantization of GGUF weight blocks, written from the block layouts alone and
// independently of native/core/quant.cpp, so that a misread layout in native code (a scale's
// high bits, a nibble order) is not repeated here. The model tests run a quantized file's
// weights dequantized to float32 as the "dequantize, then float" reference of that file.
import { mkdtempSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { ModelSpec, TensorInfo, WeightDType } from '../../lib/model/types.js';

const f16Table = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return t;
})();

const f16 = (b: Buffer, at: number): number => f16Table[b.readUInt16LE(at)];

/** Elements and bytes of one storage block. */
export const BLOCK: Record<WeightDType, { elems: number; bytes: number }> = {
  F32: { elems: 1, bytes: 4 },
  F16: { elems: 1, bytes: 2 },
  BF16: { elems: 1, bytes: 2 },
  Q8_0: { elems: 32, bytes: 34 },
  Q4_0: { elems: 32, bytes: 18 },
  Q4_K: { elems: 256, bytes: 144 },
  Q5_K: { elems: 256, bytes: 176 },
  Q6_K: { elems: 256, bytes: 210 },
};

// K-quant super-blocks: eight 6-bit scales and eight 6-bit mins in 12 bytes. Bytes 0-3 hold the
// scales of sub-blocks 0-3 in their low 6 bits, bytes 4-7 the mins of 0-3; sub-blocks 4-7 take
// their low 4 bits from the nibbles of bytes 8-11 and their top 2 bits from the spare top bits
// of bytes 0-3 (scales) and 4-7 (mins).
function kScaleMin(s: Buffer, at: number, j: number): [number, number] {
  if (j < 4) return [s[at + j] & 63, s[at + j + 4] & 63];
  const low = s[at + 8 + j - 4];
  return [(low & 0xf) | ((s[at + j - 4] >> 6) << 4), (low >> 4) | ((s[at + j] >> 6) << 4)];
}

function block(type: WeightDType, b: Buffer, at: number, y: Float32Array, o: number): void {
  switch (type) {
    case 'F32': y[o] = b.readFloatLE(at); return;
    case 'F16': y[o] = f16(b, at); return;
    case 'BF16': {
      const u = new Uint32Array([b.readUInt16LE(at) << 16]);
      y[o] = new Float32Array(u.buffer)[0];
      return;
    }
    case 'Q8_0': {
      const d = f16(b, at);
      for (let i = 0; i < 32; i++) y[o + i] = d * b.readInt8(at + 2 + i);
      return;
    }
    case 'Q4_0': {
      const d = f16(b, at);
      for (let i = 0; i < 16; i++) {
        y[o + i] = d * ((b[at + 2 + i] & 0xf) - 8);
        y[o + 16 + i] = d * ((b[at + 2 + i] >> 4) - 8);
      }
      return;
    }
    case 'Q4_K':
    case 'Q5_K': {
      // 4 chunks of 64: the low nibbles of 32 bytes are sub-block 2c, the high nibbles 2c+1;
      // Q5_K adds bit 2c / 2c+1 of the 32 qh bytes as the fifth bit.
      const d = f16(b, at), dmin = f16(b, at + 2);
      const hasHigh = type === 'Q5_K';
      const qh = at + 16, qs = hasHigh ? at + 48 : at + 16;
      for (let c = 0; c < 4; c++) {
        const [sc0, m0] = kScaleMin(b, at + 4, 2 * c);
        const [sc1, m1] = kScaleMin(b, at + 4, 2 * c + 1);
        for (let l = 0; l < 32; l++) {
          const q = b[qs + 32 * c + l];
          const h0 = hasHigh ? ((b[qh + l] >> (2 * c)) & 1) << 4 : 0;
          const h1 = hasHigh ? ((b[qh + l] >> (2 * c + 1)) & 1) << 4 : 0;
          y[o + 64 * c + l] = d * sc0 * ((q & 0xf) + h0) - dmin * m0;
          y[o + 64 * c + 32 + l] = d * sc1 * ((q >> 4) + h1) - dmin * m1;
        }
      }
      return;
    }
    case 'Q6_K': {
      // ql[128] low 4 bits, qh[64] high 2 bits, 16 int8 scales (one per 16 values), f16 d last.
      // Each half of 128 values: ql bytes 0-31 give values 0-31 (low nibble) and 64-95 (high),
      // ql 32-63 give 32-63 and 96-127; qh byte l holds the top bits of values l, l+32, l+64, l+96.
      const d = f16(b, at + 208);
      for (let half = 0; half < 2; half++) {
        const ql = at + 64 * half, qh = at + 128 + 32 * half, sc = at + 192 + 8 * half;
        for (let l = 0; l < 32; l++) {
          const h = b[qh + l];
          const vals = [
            (b[ql + l] & 0xf) | ((h & 3) << 4),
            (b[ql + 32 + l] & 0xf) | (((h >> 2) & 3) << 4),
            (b[ql + l] >> 4) | (((h >> 4) & 3) << 4),
            (b[ql + 32 + l] >> 4) | (((h >> 6) & 3) << 4),
          ];
          for (let k = 0; k < 4; k++) {
            const idx = 32 * k + l;  // position within the half
            y[o + 128 * half + idx] = d * b.readInt8(sc + (idx >> 4)) * (vals[k] - 32);
          }
        }
      }
      return;
    }
  }
}

/** Dequantizes `count` elements of `type` stored in `bytes`. */
export function dequantize(type: WeightDType, bytes: Buffer, count: number): Float32Array {
  const { elems, bytes: size } = BLOCK[type];
  if (count % elems !== 0 || bytes.length < (count / elems) * size) throw new Error(`${type}: ${count} elements do not fit ${bytes.length} bytes`);
  const y = new Float32Array(count);
  for (let i = 0; i < count / elems; i++) block(type, bytes, i * size, y, i * elems);
  return y;
}

function readTensor(t: TensorInfo): Buffer {
  const fd = openSync(t.file, 'r');
  try {
    const b = Buffer.alloc(t.byteLength);
    readSync(fd, b, 0, t.byteLength, t.offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * The same model with every tensor dequantized to float32 in one new file (in a temporary
 * directory the caller removes): a float forward of exactly the file's weights.
 */
export function dequantizedSpec(spec: ModelSpec): { spec: ModelSpec; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pagedinfer-dequant-'));
  const file = path.join(dir, 'weights.f32');
  const parts: Buffer[] = [];
  let offset = 0;
  const tensors = spec.tensors.map((t) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const values = dequantize(t.dtype, readTensor(t), count);
    parts.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    const info: TensorInfo = { ...t, file, offset, byteLength: values.byteLength, dtype: 'F32' };
    offset += values.byteLength;
    return info;
  });
  writeFileSync(file, Buffer.concat(parts));
  return { spec: { ...spec, tensors }, dir };
}
