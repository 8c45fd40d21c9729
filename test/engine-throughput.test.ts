// The throughput benchmark's two modes run the same workload: one sequence per step alone, all
// of them in each step batched.
import { describe, expect, it } from 'vitest';

import { measureThroughput, randomPrompts } from '../lib/bench/engine-throughput.js';
import { ContextHashRunner } from './helpers/context-hash-runner.js';

describe('measureThroughput', () => {
  it('sequential runs one sequence per step, batched packs them all', async () => {
    const runner = new ContextHashRunner({ vocabSize: 64 });
    const common = { numRequests: 4, inputLen: 8, outputLen: 5, engine: { kvCacheBytes: 64 * 16 * 4 } };
    const seq = await measureThroughput(runner, { ...common, mode: 'sequential' });
    const bat = await measureThroughput(runner, { ...common, mode: 'batched' });
    expect([seq.numSteps, seq.meanTokensPerStep]).toEqual([20, 1]);
    expect([bat.numSteps, bat.meanTokensPerStep]).toEqual([5, 4]);
    expect(bat.outputTokensPerSecond).toBeGreaterThan(0);
    expect(randomPrompts(2, 3, 64, 1)).toEqual(randomPrompts(2, 3, 64, 1));
  });
});
