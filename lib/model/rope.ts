import type { RopeConfig } from './types.js';

/**
 * Inverse rotary frequency of each rotated pair, with the model's scaling applied. Computed here
 * once so that every backend rotates by the same table (angle = position * invFreq[i]).
 */
export function computeRopeInvFreq(rope: RopeConfig): Float32Array {
  const half = rope.rotaryDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    let f = 1 / Math.pow(rope.theta, (2 * i) / rope.rotaryDim);
    const s = rope.scaling;
    if (s?.type === 'linear') {
      f /= s.factor;
    } else if (s?.type === 'llama3') {
      // Llama 3.1: long wavelengths are divided by the factor, short ones kept, and the band in
      // between interpolated smoothly.
      const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) {
        f /= s.factor;
      } else if (wavelen >= highFreqWavelen) {
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        f = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
    out[i] = f;
  }
  return out;
}
