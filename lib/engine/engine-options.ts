// EngineOptions checked and completed, and the KV pool sized from a memory budget: the number of
// blocks is what the budget holds, never a fixed count of sequences.
import { CapacityError, InvalidRequestError } from '../errors.js';
import { DEFAULT_BLOCK_SIZE } from './kv-cache.js';
import type { SchedulingPolicy } from './scheduler.js';
import type { EngineOptions, ModelRunner } from './types.js';

export interface ResolvedEngineOptions {
  blockSize: number;
  numBlocks: number;
  kvCacheBytes: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  maxPrefillTokensWhileDecoding: number;
  maxModelLen: number;
  enablePrefixCaching: boolean;
  schedulingPolicy: SchedulingPolicy;
  asyncScheduling: boolean;
}

/** vLLM's gpu_memory_utilization default; on the CPU the KV cache shares memory with everything else. */
const GPU_KV_FRACTION = 0.9;
const CPU_KV_FRACTION = 0.25;
/** Slots are int32 in the StepBatch. */
const MAX_SLOTS = 2 ** 31 - 1;

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new InvalidRequestError(`engine option ${name} must be a positive integer, got ${JSON.stringify(value)}`, name);
  return value;
}

/**
 * Step limits by default: a GPU takes larger steps, as vLLM does on big GPUs (on the H100, 512
 * sequences and 8192 tokens gave W1 6430 output tok/s against 5998 with 256 and 2048,
 * docs/benchmarks.md); on the CPU a step of 2048 tokens already takes seconds.
 */
const GPU_STEP_LIMITS = { maxNumSeqs: 512, maxNumBatchedTokens: 8192 };
const CPU_STEP_LIMITS = { maxNumSeqs: 256, maxNumBatchedTokens: 2048 };

function runsOnGpu(runner: ModelRunner): boolean {
  return runner.backend !== undefined && runner.backend.name !== 'cpu';
}

/**
 * vLLM's gpu_memory_utilization: the share of the device's whole memory this engine may hold
 * (weights, activations and KV cache); the KV cache gets what is left of it once the weights and
 * the workspace are in place.
 */
function kvBytesFromUtilization(runner: ModelRunner, utilization: unknown): number {
  if (typeof utilization !== 'number' || !(utilization > 0 && utilization <= 1))
    throw new InvalidRequestError(`engine option gpuMemoryUtilization must be in (0, 1], got ${JSON.stringify(utilization)}`, 'gpuMemoryUtilization');
  const total = runner.totalMemory?.();
  if (!runsOnGpu(runner) || total === undefined)
    throw new InvalidRequestError('engine option gpuMemoryUtilization needs a GPU backend: on the CPU use kvCacheFraction or kvCacheBytes', 'gpuMemoryUtilization');
  const available = runner.availableMemory();
  const bytes = Math.floor(available - (1 - utilization) * total);
  if (bytes <= 0)
    throw new CapacityError(
      `gpuMemoryUtilization ${utilization} leaves no room for a KV cache: the device has ${total} bytes, ${total - available} already in use (weights, workspace, other processes); raise it`,
    );
  return bytes;
}

/** The step's limits alone: how many sequences and tokens one step may carry. */
export function resolveStepLimits(runner: ModelRunner, options: EngineOptions = {}): { maxNumSeqs: number; maxNumBatchedTokens: number } {
  const defaults = runsOnGpu(runner) ? GPU_STEP_LIMITS : CPU_STEP_LIMITS;
  return {
    maxNumSeqs: positiveInt('maxNumSeqs', options.maxNumSeqs, defaults.maxNumSeqs),
    maxNumBatchedTokens: positiveInt('maxNumBatchedTokens', options.maxNumBatchedTokens, defaults.maxNumBatchedTokens),
  };
}

export function resolveEngineOptions(runner: ModelRunner, options: EngineOptions = {}): ResolvedEngineOptions {
  const blockSize = positiveInt('blockSize', options.blockSize, DEFAULT_BLOCK_SIZE);
  const maxContext = runner.config.maxContext;
  const maxModelLen = positiveInt('maxModelLen', options.maxModelLen, maxContext);
  if (maxModelLen > maxContext)
    throw new InvalidRequestError(
      `engine option maxModelLen is ${maxModelLen}, beyond the model's context of ${maxContext}: leave it out or lower it`,
      'maxModelLen',
    );
  const { maxNumSeqs, maxNumBatchedTokens } = resolveStepLimits(runner, options);
  const maxPrefillTokensWhileDecoding = Math.min(
    maxNumBatchedTokens,
    positiveInt('maxPrefillTokensWhileDecoding', options.maxPrefillTokensWhileDecoding, maxNumBatchedTokens),
  );
  const policy = options.schedulingPolicy ?? 'fcfs';
  if (policy !== 'fcfs' && policy !== 'priority')
    throw new InvalidRequestError(`engine option schedulingPolicy must be 'fcfs' or 'priority', got ${JSON.stringify(policy)}`, 'schedulingPolicy');

  if (options.asyncScheduling !== undefined && typeof options.asyncScheduling !== 'boolean')
    throw new InvalidRequestError(`engine option asyncScheduling must be true or false, got ${JSON.stringify(options.asyncScheduling)}`, 'asyncScheduling');

  const bytesPerBlock = runner.kvCacheBytesPerBlock(blockSize);
  let kvCacheBytes: number;
  if (options.kvCacheBytes !== undefined) {
    kvCacheBytes = positiveInt('kvCacheBytes', options.kvCacheBytes, 0);
  } else if (options.gpuMemoryUtilization !== undefined) {
    kvCacheBytes = kvBytesFromUtilization(runner, options.gpuMemoryUtilization);
  } else {
    const fraction = options.kvCacheFraction ?? (runsOnGpu(runner) ? GPU_KV_FRACTION : CPU_KV_FRACTION);
    if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1))
      throw new InvalidRequestError(`engine option kvCacheFraction must be in (0, 1], got ${JSON.stringify(fraction)}`, 'kvCacheFraction');
    kvCacheBytes = Math.floor(fraction * runner.availableMemory());
  }
  const numBlocks = Math.min(Math.floor(kvCacheBytes / bytesPerBlock), Math.floor(MAX_SLOTS / blockSize));
  if (numBlocks < 1)
    throw new CapacityError(
      `a KV cache of ${kvCacheBytes} bytes holds no block of ${blockSize} tokens (${bytesPerBlock} bytes each): raise kvCacheBytes or kvCacheFraction`,
    );
  return {
    blockSize,
    numBlocks,
    kvCacheBytes: numBlocks * bytesPerBlock,
    maxNumSeqs,
    maxNumBatchedTokens,
    maxPrefillTokensWhileDecoding,
    maxModelLen,
    enablePrefixCaching: options.enablePrefixCaching ?? true,
    schedulingPolicy: policy,
    asyncScheduling: options.asyncScheduling ?? true,
  };
}
