// Wraps a real ModelRunner to count what each step computes and to act between steps (requests
// arriving at a given step), without changing what the step does.
import type { StepBatch, StepResult } from '../../lib/engine/step-batch.js';
import type { ModelRunner } from '../../lib/engine/types.js';

export class CountingRunner implements ModelRunner {
  readonly inner: ModelRunner;
  steps = 0;
  computedTokens = 0;
  maxSeqsInStep = 0;
  /** Steps launched with chainedTokens (async scheduling). */
  chainedSteps = 0;
  /** Called before each step with its number (0-based). */
  beforeStep: ((n: number) => void) | null = null;

  constructor(inner: ModelRunner) {
    this.inner = inner;
  }

  get config() {
    return this.inner.config;
  }
  get backend() {
    return this.inner.backend;
  }
  get supportsChainedTokens() {
    return this.inner.supportsChainedTokens;
  }
  kvCacheBytesPerBlock(blockSize: number): number {
    return this.inner.kvCacheBytesPerBlock(blockSize);
  }
  availableMemory(): number {
    return this.inner.availableMemory();
  }
  initKvCache(numBlocks: number, blockSize: number): void {
    this.inner.initKvCache(numBlocks, blockSize);
  }
  step(batch: StepBatch): Promise<StepResult> {
    this.beforeStep?.(this.steps);
    this.steps++;
    this.computedTokens += batch.numTokens;
    this.maxSeqsInStep = Math.max(this.maxSeqsInStep, batch.numSeqs);
    if ((batch.chainedTokens?.length ?? 0) > 0) this.chainedSteps++;
    return this.inner.step(batch);
  }
}

/**
 * Starts requests as the runner reaches their arrival step: `submit(step)` starts those due by
 * then and puts their promises in `results`; once nothing runs, the rest start at once. Resolves
 * with all `count` results.
 */
export async function runArrivals<T>(runner: CountingRunner, results: Promise<T>[], count: number, submit: (step: number) => void): Promise<T[]> {
  runner.beforeStep = (n) => submit(n);
  submit(0);
  while (results.filter(Boolean).length < count) {
    await Promise.all(results.filter(Boolean));
    submit(Infinity);
  }
  return Promise.all(results);
}
