// Options every command that loads a model shares, and their translation to LoadModelOptions.
import { type Command, InvalidArgumentError, Option } from 'commander';

import { InvalidRequestError } from '../errors.js';
import type { LoadModelOptions } from '../load.js';

export function parseInteger(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

export function parseNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <model>', 'model directory, .gguf file, Hugging Face repo id or Ollama name (default: the built-in model)')
    .addOption(new Option('--backend <backend>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--threads <n>', 'CPU threads (default: one per core)', parseInteger('--threads', 1))
    .option('--load-format <format>', "'dummy' for random weights of the model's shape (a preset or config.json)")
    .option('--dtype <type>', 'weight type of dummy weights (F32, F16, BF16)', 'BF16')
    .option('--kv-cache-bytes <bytes>', 'KV cache size in bytes', parseInteger('--kv-cache-bytes', 1))
    .option('--gpu-memory-utilization <fraction>', "share of the GPU's memory this engine may hold (as vLLM's)", parseNumber('--gpu-memory-utilization'))
    .option('--block-size <n>', 'tokens per KV block', parseInteger('--block-size', 1))
    .option('--max-num-seqs <n>', 'most sequences per step', parseInteger('--max-num-seqs', 1))
    .option('--max-num-batched-tokens <n>', 'token budget of one step', parseInteger('--max-num-batched-tokens', 1))
    .option(
      '--max-prefill-tokens-while-decoding <n>',
      'prompt tokens a step may add while sequences decode (bounds inter-token latency)',
      parseInteger('--max-prefill-tokens-while-decoding', 1),
    )
    .option('--max-model-len <n>', 'longest prompt + output', parseInteger('--max-model-len', 1))
    .option('--no-prefix-caching', 'disable automatic prefix caching')
    .option('--no-async-scheduling', "wait for each step's tokens before launching the next (for comparison)");
}

export interface ModelCliOptions {
  model?: string;
  backend: 'auto' | 'cpu' | 'cuda';
  threads?: number;
  loadFormat?: string;
  dtype: string;
  kvCacheBytes?: number;
  gpuMemoryUtilization?: number;
  blockSize?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxPrefillTokensWhileDecoding?: number;
  maxModelLen?: number;
  prefixCaching: boolean;
  asyncScheduling: boolean;
}

export function loadOptions(o: ModelCliOptions): LoadModelOptions {
  if (o.loadFormat !== undefined && o.loadFormat !== 'dummy' && o.loadFormat !== 'auto')
    throw new InvalidRequestError(`--load-format must be auto or dummy, got ${o.loadFormat}`);
  if (!['F32', 'F16', 'BF16'].includes(o.dtype)) throw new InvalidRequestError('--dtype must be F32, F16 or BF16');
  return {
    backend: o.backend === 'auto' ? undefined : o.backend,
    threads: o.threads,
    loadFormat: o.loadFormat as 'auto' | 'dummy' | undefined,
    dummyDType: o.dtype as 'F32' | 'F16' | 'BF16',
    kvCacheBytes: o.kvCacheBytes,
    gpuMemoryUtilization: o.gpuMemoryUtilization,
    blockSize: o.blockSize,
    maxNumSeqs: o.maxNumSeqs,
    maxNumBatchedTokens: o.maxNumBatchedTokens,
    maxPrefillTokensWhileDecoding: o.maxPrefillTokensWhileDecoding,
    maxModelLen: o.maxModelLen,
    enablePrefixCaching: o.prefixCaching,
    asyncScheduling: o.asyncScheduling,
  };
}
