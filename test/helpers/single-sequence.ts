// Drives one sequence through a ModelRunner without the engine: the prompt in one prefill step
// (logits of every position), then greedy decode one token per step. Blocks are laid out
// contiguously. Model tests use it to compare the forward with reference outputs directly.
import type { SamplingBatch, StepBatch } from '../../lib/engine/step-batch.js';
import type { ModelRunner } from '../../lib/engine/types.js';

export interface SingleSequenceRun {
  /** [prompt.length * vocab] logits of every prompt position. */
  promptLogits: Float32Array;
  /** Greedy tokens after the prompt. */
  greedy: number[];
}

/**
 * One sequence's step: `tokens` at positions from `start`, in the contiguous blocks
 * [firstBlock, firstBlock + maxBlocks), logits of `logitRows`, sampled with `sampling` (null:
 * logits only).
 */
export function singleSequenceBatch(
  tokens: number[],
  start: number,
  blockSize: number,
  maxBlocks: number,
  logitRows: number[],
  sampling: SamplingBatch | null = null,
  firstBlock = 0,
): StepBatch {
  const n = tokens.length;
  return {
    numTokens: n,
    numSeqs: 1,
    tokenIds: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    queryStart: Int32Array.from([0, n]),
    seqLens: Int32Array.from([start + n]),
    blockTable: Int32Array.from({ length: maxBlocks }, (_, i) => firstBlock + i),
    maxBlocksPerSeq: maxBlocks,
    slotMapping: Int32Array.from(tokens, (_, i) => firstBlock * blockSize + start + i),
    logitRows: Int32Array.from(logitRows),
    sampling,
    returnLogits: true,
    blockCopies: new Int32Array(0),
  };
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export async function runSingleSequence(
  runner: ModelRunner,
  prompt: number[],
  greedySteps: number,
  blockSize = 16,
): Promise<SingleSequenceRun> {
  const vocab = runner.config.vocabSize;
  const maxBlocks = Math.ceil((prompt.length + greedySteps) / blockSize);
  runner.initKvCache(maxBlocks, blockSize);
  const prefill = await runner.step(singleSequenceBatch(prompt, 0, blockSize, maxBlocks, prompt.map((_, i) => i)));
  const promptLogits = prefill.logits!;
  const greedy: number[] = [argmax(promptLogits.subarray((prompt.length - 1) * vocab, prompt.length * vocab))];
  while (greedy.length < greedySteps) {
    const pos = prompt.length + greedy.length - 1;
    const r = await runner.step(singleSequenceBatch([greedy[greedy.length - 1]], pos, blockSize, maxBlocks, [0]));
    greedy.push(argmax(r.logits!));
  }
  return { promptLogits, greedy };
}

/**
 * The logits a model gives along a fixed token path: every prompt position in one prefill step,
 * then one decode step per forced token. Row i is the distribution after token i of
 * prompt ++ forced, so another engine's outputs along the same path compare row by row even
 * where the two engines' argmax would have parted.
 */
export async function runForcedPath(runner: ModelRunner, prompt: number[], forced: number[], blockSize = 16): Promise<Float32Array[]> {
  const vocab = runner.config.vocabSize;
  const maxBlocks = Math.ceil((prompt.length + forced.length) / blockSize);
  runner.initKvCache(maxBlocks, blockSize);
  const prefill = (await runner.step(singleSequenceBatch(prompt, 0, blockSize, maxBlocks, prompt.map((_, i) => i)))).logits!;
  const rows: Float32Array[] = [];
  for (let p = 0; p < prompt.length; p++) rows.push(prefill.slice(p * vocab, (p + 1) * vocab));
  for (let s = 0; s < forced.length; s++) {
    const r = await runner.step(singleSequenceBatch([forced[s]], prompt.length + s, blockSize, maxBlocks, [0]));
    rows.push(r.logits!.slice());
  }
  return rows;
}

export { argmax };
