// One request alone: time to first token (the prefill of the prompt) and the decode rate after it,
// like vLLM's benchmark_latency, beside the weight-bandwidth roofline of one decode step.
import { Engine } from '../engine/engine.js';
import type { EngineOptions, ModelRunner } from '../engine/types.js';
import { normalizeSamplingParams } from '../sampling/params.js';
import { randomPrompts } from './engine-throughput.js';

export interface LatencyResult {
  inputLen: number;
  outputLen: number;
  /** Seconds from submitting the request to its first output token. */
  timeToFirstToken: number;
  /** Output tokens per second after the first one. */
  decodeTokensPerSecond: number;
  /** Whole request, seconds. */
  seconds: number;
}

export async function measureLatency(
  runner: ModelRunner,
  options: { inputLen: number; outputLen: number; seed?: number; engine?: EngineOptions },
): Promise<LatencyResult> {
  const { inputLen, outputLen } = options;
  const [prompt] = randomPrompts(1, inputLen, runner.config.vocabSize, options.seed);
  const params = normalizeSamplingParams(
    { maxTokens: outputLen, temperature: 0, ignoreEos: true },
    { maxModelLen: runner.config.maxContext, promptLength: inputLen, vocabSize: runner.config.vocabSize },
  );
  const engine = await Engine.create(runner, null, { enablePrefixCaching: false, ...options.engine });
  try {
    const start = performance.now();
    let first = 0, last = 0, tokens = 0;
    for await (const chunk of engine.generate({ promptTokenIds: prompt }, params)) {
      if (chunk.tokenIds.length === 0) continue;
      if (tokens === 0) first = performance.now();
      tokens += chunk.tokenIds.length;
      last = performance.now();
    }
    if (tokens !== outputLen) throw new Error(`latency benchmark: expected ${outputLen} tokens, got ${tokens}`);
    return {
      inputLen,
      outputLen,
      timeToFirstToken: (first - start) / 1000,
      decodeTokensPerSecond: outputLen > 1 ? ((outputLen - 1) * 1000) / (last - first) : 0,
      seconds: (last - start) / 1000,
    };
  } finally {
    await engine.shutdown();
  }
}
