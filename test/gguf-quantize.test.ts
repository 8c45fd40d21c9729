// The benchmark models' quantizer (lib/model/gguf-quantize.ts) writes ggml's block layouts: its
// rows, read back by the independent dequantizer of the model tests, give the input within the
// type's rounding step. Rows mix 32-value sub-blocks of very different size, so a scale or min
// stored in the wrong slot of a block would give errors of the sub-blocks' own size, not of a step.
import { describe, expect, it } from 'vitest';

import { dequantize } from './helpers/dequantize.js';
import { quantizeRow, type QuantizeType } from '../lib/model/gguf-quantize.js';

function testRow(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const sizes = [0.05, 1, 0.3, 3, 0.1, 2];
  // Every 32 values a different size, in an order that differs between 256-value blocks.
  return Float32Array.from({ length: n }, (_, i) => sizes[(Math.floor(i / 32) * 5 + Math.floor(i / 256)) % sizes.length] * (2 * rand() - 1));
}

// Largest |error| in a 32-value sub-block over that sub-block's largest |value|. Bounds, from the
// formats: F16 2^-11; Q8_0 half a step of amax/127 (+ the half-precision scale); Q4_0 a whole
// step of amax/8 (the value of largest magnitude takes q = 0, the other side clamps at q = 15);
// Q4_K a step of range/15 (about amax*2/15) made coarser for small sub-blocks by the 6-bit scales
// and mins relative to the block's largest (a 0.05 sub-block beside a 3 one: up to 0.33 of its
// amax measured); Q6_K half a step of amax/31, but a 0.05 group beside a 3 one gets the integer
// scale 2 instead of 2.1 and clamps its largest values (0.064 measured). A scale or min read
// from a wrong slot errs by the ratio of sizes here (up to 60).
const BOUNDS: Record<Exclude<QuantizeType, 'F32'>, number> = { F16: 1e-3, Q8_0: 6e-3, Q4_0: 0.13, Q4_K: 0.5, Q6_K: 0.1 };

describe('the synthetic models\' quantizer writes ggml block layouts', () => {
  for (const [type, bound] of Object.entries(BOUNDS) as [Exclude<QuantizeType, 'F32'>, number][]) {
    it(`${type}: each group of a row reads back within the type's step`, () => {
      for (const seed of [1, 2, 3]) {
        const x = testRow(1024, seed);
        const y = dequantize(type, quantizeRow(type, x), x.length);
        let worst = 0;
        for (let g = 0; g < x.length / 32; g++) {
          let err = 0, amax = 0;
          for (let i = 32 * g; i < 32 * g + 32; i++) {
            err = Math.max(err, Math.abs(y[i] - x[i]));
            amax = Math.max(amax, Math.abs(x[i]));
          }
          worst = Math.max(worst, err / amax);
        }
        expect(worst, `${type} seed ${seed}`).toBeLessThan(bound);
      }
    });
  }
});
