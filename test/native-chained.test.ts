// The addon's side of async scheduling (CPU backend): a step submitted while another runs, its
// chainedTokens filled from that step's samples, gives what the real ids give; bad chains are
// typed errors, not crashes; back-to-back steps settle in order; a third is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SamplingBatch, StepBatch, StepResult } from '../lib/engine/step-batch.js';
import { NativeError } from '../lib/errors.js';
import { loadDummySpec } from '../lib/model/dummy.js';
import { NativeModelRunner } from '../lib/native.js';
import { singleSequenceBatch } from './helpers/single-sequence.js';

const BLOCK = 16;
const MAX_BLOCKS = 4;

/** One sequence's tokens at `start`, in the blocks [seq * MAX_BLOCKS, ...), greedy on its last token. */
function batchFor(seq: number, tokens: number[], start: number, chainedTokens?: number[]): StepBatch {
  const batch = singleSequenceBatch(tokens, start, BLOCK, MAX_BLOCKS, [tokens.length - 1], greedy(1), seq * MAX_BLOCKS);
  return chainedTokens ? { ...batch, chainedTokens: Int32Array.from(chainedTokens) } : batch;
}

function greedy(rows: number): SamplingBatch {
  return {
    temperature: new Float32Array(rows),
    topK: new Int32Array(rows),
    topP: new Float32Array(rows).fill(1),
    minP: new Float32Array(rows),
    repetitionPenalty: new Float32Array(rows).fill(1),
    presencePenalty: new Float32Array(rows),
    frequencyPenalty: new Float32Array(rows),
    seeds: new Uint32Array(2 * rows),
    outputIndex: new Int32Array(rows),
    numLogprobs: new Int32Array(rows).fill(0),
    penaltyTokens: new Int32Array(0),
    penaltyOffsets: new Int32Array(rows + 1),
    penaltyPromptLens: new Int32Array(rows),
  };
}

const PROMPT = [1, 17, 33, 5, 90, 2];

describe('native steps in flight together (CPU addon)', () => {
  let runner: NativeModelRunner;
  beforeAll(async () => {
    runner = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { backend: 'cpu', loadFormat: 'dummy', dummyDType: 'F32', seed: 7 });
    runner.initKvCache(4 * MAX_BLOCKS, BLOCK);
  });
  afterAll(() => runner.close());

  it('a chained step, submitted before the step it reads, equals the step with the real ids', async () => {
    // Sequence 0 one step at a time with its real tokens; sequence 1 the same steps chained.
    const want: StepResult[] = [await runner.step(batchFor(0, PROMPT, 0))];
    for (let i = 0; i < 3; i++) want.push(await runner.step(batchFor(0, [want[i].tokens[0]], PROMPT.length + i)));
    expect(want.slice(0, 3).every((r) => r.tokens[0] !== 0), 'the placeholder must differ from the real token').toBe(true);

    const got = [runner.step(batchFor(1, PROMPT, 0))];
    for (let i = 0; i < 3; i++) {
      got.push(runner.step(batchFor(1, [0], PROMPT.length + i, [0, 0])));
      await got[i];  // at most two in flight
    }
    const results = await Promise.all(got);
    for (let i = 0; i < want.length; i++) {
      expect(results[i].tokens).toEqual(want[i].tokens);
      expect(results[i].logits).toEqual(want[i].logits);
      expect(results[i].resampledRows).toEqual(new Int32Array(0));
    }
  });

  it('refuses bad chainedTokens with a typed error and keeps serving', async () => {
    await runner.step(batchFor(2, PROMPT, 0));
    const bad: [string, StepBatch][] = [
      ['a row the step before did not sample', batchFor(2, [0], PROMPT.length, [0, 1])],
      ['a token index outside the step', batchFor(2, [0], PROMPT.length, [1, 0])],
      ['a negative row', batchFor(2, [0], PROMPT.length, [0, -1])],
      ['half a pair', batchFor(2, [0], PROMPT.length, [0])],
      ['not an Int32Array', { ...batchFor(2, [0], PROMPT.length), chainedTokens: new Float32Array([0, 0]) as never }],
    ];
    for (const [what, batch] of bad) await expect(runner.step(batch), what).rejects.toBeInstanceOf(NativeError);
    // A step that samples nothing leaves nothing to chain to.
    await runner.step({ ...batchFor(2, PROMPT, 0), sampling: null });
    await expect(runner.step(batchFor(2, [0], PROMPT.length, [0, 0]))).rejects.toThrow(/chainedTokens/);
    const ok = await runner.step(batchFor(2, PROMPT, 0));
    expect(ok.tokens).toHaveLength(1);
  });

  it('settles two steps submitted back to back in order, and refuses a third or any other call beside them', async () => {
    const order: string[] = [];
    const a = runner.step(batchFor(0, PROMPT, 0)).then((r) => (order.push('a'), r));
    const b = runner.step(batchFor(3, [...PROMPT, 9, 9], 0)).then((r) => (order.push('b'), r));
    await expect(runner.step(batchFor(2, PROMPT, 0))).rejects.toThrow(/at most two steps/);
    expect(() => runner.initKvCache(4 * MAX_BLOCKS, BLOCK)).toThrow(/busy/);
    const [ra, rb] = await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    const again = await runner.step(batchFor(0, PROMPT, 0));
    expect(ra.tokens).toEqual(again.tokens);
    expect(rb.tokens).toHaveLength(1);
  });

  it('a model closed with two steps in flight lets both finish first', async () => {
    const other = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { backend: 'cpu', loadFormat: 'dummy', dummyDType: 'F32', seed: 7 });
    other.initKvCache(4 * MAX_BLOCKS, BLOCK);
    const first = other.step(batchFor(0, PROMPT, 0));
    const second = other.step(batchFor(0, [0], PROMPT.length, [0, 0]));
    other.close();
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.tokens).toHaveLength(1);
    expect(r2.tokens).toHaveLength(1);
  });
});
