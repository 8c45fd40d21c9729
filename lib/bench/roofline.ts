// The best time a workload could take on a device, from its measured ceilings: prefill FLOPs over
// the matmul rate, then each decode step at the larger of (weight + KV bytes over the copy
// bandwidth) and (its FLOPs over the matmul rate). Benchmarks report their time as a fraction
// of this.
import type { ModelConfig } from '../model/types.js';
import type { DeviceCeilings } from '../native.js';

export interface RooflineWorkload {
  numPrompts: number;
  inputLen: number;
  outputLen: number;
  /** Sequences that can decode together (limited by maxNumSeqs and the KV cache). */
  maxConcurrent: number;
}

export interface Roofline {
  prefillFlops: number;
  prefillSeconds: number;
  decodeSteps: number;
  decodeBytes: number;
  decodeFlops: number;
  decodeSeconds: number;
  seconds: number;
  outputTokensPerSecond: number;
}

/** Multiply-adds per token of every linear layer but the output projection. */
export function matmulParamsPerToken(c: ModelConfig): number {
  const attn = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize;
  return c.numLayers * (attn + 3 * c.hiddenSize * c.intermediateSize);
}

/** FLOPs of attention scores and weighted sums for one query token over ctx positions. */
function attentionFlops(c: ModelConfig, ctx: number): number {
  return 4 * c.numLayers * c.numHeads * c.headDim * ctx;
}

export function workloadRoofline(
  c: ModelConfig,
  weightBytes: number,
  kvBytesPerToken: number,
  ceilings: DeviceCeilings,
  w: RooflineWorkload,
): Roofline {
  const P = matmulParamsPerToken(c);
  const lmHead = c.vocabSize * c.hiddenSize;
  // Prefill: every prompt token through the layers, causal attention over its prefix, and the
  // output projection for the last token of each prompt (which yields its first output token).
  let prefillFlops = 2 * P * w.numPrompts * w.inputLen + 2 * lmHead * w.numPrompts;
  for (let p = 1; p <= w.inputLen; p++) prefillFlops += attentionFlops(c, p) * w.numPrompts;
  const prefillSeconds = prefillFlops / ceilings.matmulFlopsPerSecond;

  let decodeSteps = 0, decodeBytes = 0, decodeFlops = 0, decodeSeconds = 0;
  for (let start = 0; start < w.numPrompts; start += w.maxConcurrent) {
    const batch = Math.min(w.maxConcurrent, w.numPrompts - start);
    for (let s = 1; s < w.outputLen; s++) {
      const ctx = w.inputLen + s;
      const bytes = weightBytes + batch * ctx * kvBytesPerToken;
      const flops = batch * (2 * (P + lmHead) + attentionFlops(c, ctx));
      decodeSteps++;
      decodeBytes += bytes;
      decodeFlops += flops;
      decodeSeconds += Math.max(bytes / ceilings.copyBytesPerSecond, flops / ceilings.matmulFlopsPerSecond);
    }
  }
  const seconds = prefillSeconds + decodeSeconds;
  return {
    prefillFlops,
    prefillSeconds,
    decodeSteps,
    decodeBytes,
    decodeFlops,
    decodeSeconds,
    seconds,
    outputTokensPerSecond: (w.numPrompts * w.outputLen) / seconds,
  };
}
