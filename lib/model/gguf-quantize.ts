// Quantizers for the GGUF block formats (ggml's layouts, so llama.cpp reads the result): F16,
// Q8_0, Q4_0, Q4_K, Q6_K. Written from the block layouts for synthetic benchmark models
// (synthetic-gguf.ts); they round to nearest within each block's scale but do not search for the
// best scales as llama-quantize does, so their error is somewhat larger. Each takes one row (a
// multiple of the block size) and returns its bytes.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half of a float, rounded to nearest even (what ggml's FP32_TO_FP16 gives). */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** The float a half holds (to use the stored scale, as the dequantizer will). */
export function fromHalf(h: number): number {
  const exp = (h >> 10) & 0x1f, frac = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  if (exp === 0) return s * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : s * Infinity;
  return s * (1 + frac / 1024) * 2 ** (exp - 15);
}

export type QuantizeType = 'F32' | 'F16' | 'Q4_0' | 'Q8_0' | 'Q4_K' | 'Q6_K';

/** Elements and bytes of one storage block, and the ggml type code. */
export const BLOCKS: Record<QuantizeType, { elems: number; bytes: number; code: number }> = {
  F32: { elems: 1, bytes: 4, code: 0 },
  F16: { elems: 1, bytes: 2, code: 1 },
  Q4_0: { elems: 32, bytes: 18, code: 2 },
  Q8_0: { elems: 32, bytes: 34, code: 8 },
  Q4_K: { elems: 256, bytes: 144, code: 12 },
  Q6_K: { elems: 256, bytes: 210, code: 14 },
};

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

function rowF32(x: ArrayLike<number>): Buffer {
  return Buffer.from(Float32Array.from(x).buffer);
}

function rowF16(x: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(x.length * 2);
  for (let i = 0; i < x.length; i++) out.writeUInt16LE(toHalf(x[i]), 2 * i);
  return out;
}

// Q8_0: 32 values, scale amax/127 (half), int8 values.
function rowQ8_0(x: ArrayLike<number>): Buffer {
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]));
    const h = toHalf(amax / 127);
    const inv = amax > 0 ? 127 / amax : 0;
    out.writeUInt16LE(h, 34 * b);
    for (let i = 0; i < 32; i++) out.writeInt8(clamp(Math.round(x[32 * b + i] * inv), -127, 127), 34 * b + 2 + i);
  }
  return out;
}

// Q4_0: 32 values as d * (q - 8), q in 0..15; the value of largest magnitude maps to q = 0
// (d = that value / -8), so the full range -8..7 is used on its side.
function rowQ4_0(x: ArrayLike<number>): Buffer {
  const out = Buffer.alloc((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let ext = 0;
    for (let i = 0; i < 32; i++) if (Math.abs(x[32 * b + i]) > Math.abs(ext)) ext = x[32 * b + i];
    const d = ext / -8;
    const inv = d !== 0 ? 1 / d : 0;
    out.writeUInt16LE(toHalf(d), 18 * b);
    for (let i = 0; i < 16; i++) {
      const lo = clamp(Math.round(x[32 * b + i] * inv + 8), 0, 15);
      const hi = clamp(Math.round(x[32 * b + 16 + i] * inv + 8), 0, 15);
      out[18 * b + 2 + i] = lo | (hi << 4);
    }
  }
  return out;
}

// Q4_K: 256 values in 8 sub-blocks of 32, value = d*sc*q - dmin*m with q in 0..15 and 6-bit sc, m
// per sub-block; d, dmin halves. Scales/mins packed in 12 bytes: sub-blocks 0-3 in the low 6 bits
// of bytes 0-3 (scales) and 4-7 (mins); 4-7 in the nibbles of bytes 8-11 plus the top 2 bits of
// bytes 0-3 (scales) and 4-7 (mins).
function rowQ4_K(x: ArrayLike<number>): Buffer {
  const out = Buffer.alloc((x.length / 256) * 144);
  for (let sb = 0; sb < x.length / 256; sb++) {
    const o = 144 * sb, base = 256 * sb;
    const scale = new Float64Array(8), min = new Float64Array(8);
    for (let j = 0; j < 8; j++) {
      let lo = 0, hi = -Infinity;
      for (let i = 0; i < 32; i++) {
        lo = Math.min(lo, x[base + 32 * j + i]);
        hi = Math.max(hi, x[base + 32 * j + i]);
      }
      scale[j] = (hi - lo) / 15;
      min[j] = -lo;
    }
    const dh = toHalf(Math.max(...scale) / 63), mh = toHalf(Math.max(...min) / 63);
    const d = fromHalf(dh), dmin = fromHalf(mh);
    out.writeUInt16LE(dh, o);
    out.writeUInt16LE(mh, o + 2);
    const sc = new Uint8Array(8), m = new Uint8Array(8);
    for (let j = 0; j < 8; j++) {
      sc[j] = d > 0 ? clamp(Math.round(scale[j] / d), 0, 63) : 0;
      m[j] = dmin > 0 ? clamp(Math.round(min[j] / dmin), 0, 63) : 0;
    }
    for (let j = 0; j < 4; j++) {
      out[o + 4 + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
      out[o + 8 + j] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
      out[o + 12 + j] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4);
    }
    // 4 chunks of 32 bytes: low nibbles sub-block 2c, high nibbles 2c+1.
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const q = [0, 1].map((h): number => {
          const j = 2 * c + h;
          const step = d * sc[j];
          return step > 0 ? clamp(Math.round((x[base + 32 * j + l] + dmin * m[j]) / step), 0, 15) : 0;
        });
        out[o + 16 + 32 * c + l] = q[0] | (q[1] << 4);
      }
    }
  }
  return out;
}

// Q6_K: 256 values, 16 groups of 16 with an int8 scale each, value = d*sc*(q - 32), q in 0..63.
// ql[128] holds the low 4 bits, qh[64] the top 2; per half of 128 values, ql bytes 0-31 carry
// values 0-31 (low nibble) and 64-95 (high), ql 32-63 carry 32-63 and 96-127, and qh byte l the
// top bits of values l, l+32, l+64, l+96 (2 bits each, in that order). d (half) comes last.
function rowQ6_K(x: ArrayLike<number>): Buffer {
  const out = Buffer.alloc((x.length / 256) * 210);
  for (let sb = 0; sb < x.length / 256; sb++) {
    const o = 210 * sb, base = 256 * sb;
    const gs = new Float64Array(16);
    for (let g = 0; g < 16; g++) {
      let amax = 0;
      for (let i = 0; i < 16; i++) amax = Math.max(amax, Math.abs(x[base + 16 * g + i]));
      gs[g] = amax / 31;
    }
    const dh = toHalf(Math.max(...gs) / 127);
    const d = fromHalf(dh);
    const sc = new Int8Array(16);
    for (let g = 0; g < 16; g++) sc[g] = d > 0 ? clamp(Math.round(gs[g] / d), -127, 127) : 0;
    const q = new Uint8Array(256);
    for (let i = 0; i < 256; i++) {
      const step = d * sc[i >> 4];
      q[i] = step !== 0 ? clamp(Math.round(x[base + i] / step), -32, 31) + 32 : 32;
    }
    for (let half = 0; half < 2; half++) {
      const v = q.subarray(128 * half);
      for (let l = 0; l < 32; l++) {
        out[o + 64 * half + l] = (v[l] & 15) | ((v[l + 64] & 15) << 4);
        out[o + 64 * half + 32 + l] = (v[l + 32] & 15) | ((v[l + 96] & 15) << 4);
        out[o + 128 + 32 * half + l] = (v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) | ((v[l + 96] >> 4) << 6);
      }
    }
    for (let g = 0; g < 16; g++) out.writeInt8(sc[g], o + 192 + g);
    out.writeUInt16LE(dh, o + 208);
  }
  return out;
}

const ROW: Record<QuantizeType, (x: ArrayLike<number>) => Buffer> = { F32: rowF32, F16: rowF16, Q8_0: rowQ8_0, Q4_0: rowQ4_0, Q4_K: rowQ4_K, Q6_K: rowQ6_K };

/** Bytes of one row of `cols` values of `type`. */
export function quantizeRow(type: QuantizeType, x: ArrayLike<number>): Buffer {
  const f = ROW[type];
  if (!f) throw new Error(`no quantizer for ${type}`);
  if (x.length % BLOCKS[type].elems !== 0) throw new Error(`${type}: a row of ${x.length} is not whole blocks`);
  return f(x);
}
