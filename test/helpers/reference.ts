// Reads ../shared/reference/<model>/reference.json and its logits files.
import { readFileSync } from 'node:fs';

import { sharedPath } from './shared.js';

export interface ReferenceCase {
  prompt: string | null;
  ids: number[];
  logits_file: string;
  logits_shape: [number, number];
  greedy_ids: number[];
  greedy_top5: { ids: number[]; logits: number[]; margin: number }[];
  min_margin: number;
  greedy_text?: string;
}

export const REFERENCE_MODELS = ['stories260K', 'llama-tiny-random', 'llama3-tiny-random', 'qwen2-tiny-random', 'qwen3-tiny-random'];

export function referenceCases(model: string): ReferenceCase[] {
  return JSON.parse(readFileSync(sharedPath('reference', model, 'reference.json'), 'utf8')).cases;
}

export function referenceLogits(model: string, c: ReferenceCase): Float32Array {
  const buf = readFileSync(sharedPath('reference', model, c.logits_file));
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

/** Greedy ids that must agree: up to (not including) the first step whose reference margin is below minMargin. */
export function stepsAboveMargin(c: ReferenceCase, minMargin: number): number {
  const i = c.greedy_top5.findIndex((s) => s.margin < minMargin);
  return i < 0 ? c.greedy_ids.length : i;
}

/** Top-5 ids and logits of one position, and the top-1 / top-2 margin. */
export interface Top5 {
  ids: number[];
  logits: number[];
  margin: number;
}

/** One case of ../shared/reference/<model>/llamacpp-<TYPE>.json: llama.cpp's own run of a GGUF fixture. */
export interface LlamaCppCase {
  ids: number[];
  greedy_ids: number[];
  /** Before each greedy step (step 0 is the last prompt position). */
  greedy_top5: Top5[];
  /** At every prompt position. */
  prefill_top5: Top5[];
}

export function llamaCppCases(model: string, type: string): LlamaCppCase[] {
  return JSON.parse(readFileSync(sharedPath('reference', model, `llamacpp-${type}.json`), 'utf8')).cases;
}

/** ||a - b|| / ||b||: the half-precision tolerance's measure. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
