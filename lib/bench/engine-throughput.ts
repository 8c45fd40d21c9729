// Offline throughput of the engine, like vLLM's benchmark_throughput with the random dataset:
// N requests of random token ids (input length L_in, exactly L_out output tokens, EOS ignored),
// either all submitted at once (continuous batching) or one after another (each alone), on the
// same engine settings, so the two numbers compare the scheduling and nothing else.
import { Engine } from '../engine/engine.js';
import type { EngineOptions, ModelRunner } from '../engine/types.js';
import { normalizeSamplingParams } from '../sampling/params.js';

export type ThroughputMode = 'batched' | 'sequential';

export interface ThroughputOptions {
  numRequests: number;
  inputLen: number;
  outputLen: number;
  mode: ThroughputMode;
  /** Seed of the random prompts (the same prompts for both modes). */
  seed?: number;
  engine?: EngineOptions;
}

export interface ThroughputResult {
  mode: ThroughputMode;
  numRequests: number;
  inputLen: number;
  outputLen: number;
  seconds: number;
  requestsPerSecond: number;
  outputTokensPerSecond: number;
  totalTokensPerSecond: number;
  numSteps: number;
  /** Output tokens per step: how many sequences a decode step carried on average. */
  meanTokensPerStep: number;
  numPreemptions: number;
}

/** Random prompts of token ids in [10, vocab), reproducible from the seed. */
export function randomPrompts(count: number, length: number, vocabSize: number, seed = 0): number[][] {
  let s = (seed ^ 0x9e3779b9) >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const span = Math.max(1, vocabSize - 10);
  return Array.from({ length: count }, () => Array.from({ length }, () => 10 + (next() % span)));
}

export async function measureThroughput(runner: ModelRunner, options: ThroughputOptions): Promise<ThroughputResult> {
  const { numRequests, inputLen, outputLen, mode } = options;
  const vocab = runner.config.vocabSize;
  const prompts = randomPrompts(numRequests, inputLen, vocab, options.seed);
  const params = normalizeSamplingParams(
    { maxTokens: outputLen, temperature: 0, ignoreEos: true },
    { maxModelLen: runner.config.maxContext, promptLength: inputLen, vocabSize: vocab },
  );
  // Random prompts share nothing; caching off keeps both modes computing the same tokens.
  const engine = await Engine.create(runner, null, { enablePrefixCaching: false, ...options.engine });
  let outputTokens = 0;
  const drain = async (prompt: number[]) => {
    for await (const chunk of engine.generate({ promptTokenIds: prompt }, params)) outputTokens += chunk.tokenIds.length;
  };
  const start = performance.now();
  if (mode === 'batched') await Promise.all(prompts.map(drain));
  else for (const p of prompts) await drain(p);
  const seconds = (performance.now() - start) / 1000;
  const stats = engine.stats();
  await engine.shutdown();
  if (outputTokens !== numRequests * outputLen)
    throw new Error(`benchmark: expected ${numRequests * outputLen} output tokens, got ${outputTokens}`);
  return {
    mode,
    numRequests,
    inputLen,
    outputLen,
    seconds,
    requestsPerSecond: numRequests / seconds,
    outputTokensPerSecond: outputTokens / seconds,
    totalTokensPerSecond: (outputTokens + numRequests * inputLen) / seconds,
    numSteps: stats.numSteps,
    meanTokensPerStep: outputTokens / stats.numSteps,
    numPreemptions: stats.numPreemptions,
  };
}
