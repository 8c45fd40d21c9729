// The Engine's contract with what is above it (public API, server, CLI) and below it (the
// native model). Plain data only.
import type { ModelConfig } from '../model/types.js';
import type { SamplingParams } from '../sampling/params.js';
import type { StepBatch, StepResult } from './step-batch.js';

/** The native model as the engine drives it (lib/native.ts implements it over the addon). */
export interface ModelRunner {
  readonly config: ModelConfig;
  /** Bytes of one KV block (all layers, K and V) for this block size. */
  kvCacheBytesPerBlock(blockSize: number): number;
  /** Memory the backend could still allocate (device memory left, or host memory available). */
  availableMemory(): number;
  initKvCache(numBlocks: number, blockSize: number): void;
  /** One step; one at a time. */
  step(batch: StepBatch): Promise<StepResult>;
}

export interface EngineOptions {
  /** Tokens per KV block (default 16). */
  blockSize?: number;
  /** KV cache size in bytes; default: kvCacheFraction of the backend's available memory. */
  kvCacheBytes?: number;
  /** Fraction of available memory for the KV cache when kvCacheBytes is not given (default 0.9 on GPUs, 0.25 on the CPU). */
  kvCacheFraction?: number;
  /** Most sequences in one step (default 256). */
  maxNumSeqs?: number;
  /** Token budget of one step: decode tokens first, then chunked prefill (default 2048). */
  maxNumBatchedTokens?: number;
  /** Longest prompt + output (default: the model's context). */
  maxModelLen?: number;
  /** Automatic prefix caching (default true). */
  enablePrefixCaching?: boolean;
  /** 'fcfs' (default) or 'priority' (lower value first, then arrival). */
  schedulingPolicy?: 'fcfs' | 'priority';
}

export interface GenerateInput {
  promptTokenIds: number[];
}

export interface GenerateOptions {
  signal?: AbortSignal;
  requestId?: string;
  /** With schedulingPolicy 'priority': lower runs first. */
  priority?: number;
}

export interface TokenLogprob {
  token: number;
  logprob: number;
  /** The top-n alternatives (raw model distribution), when asked. */
  top: { token: number; logprob: number }[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

/** One streamed piece of one output sequence (index among the request's n). */
export interface EngineChunk {
  index: number;
  /** Text added since the previous chunk of this sequence (never a broken UTF-8 sequence). */
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[] | null;
  finishReason: FinishReason | null;
  /** The stop string or stop token id that ended the sequence, when one did. */
  stopReason: string | number | null;
  /** On the last chunk of the request (after every sequence finished). */
  usage: { promptTokens: number; completionTokens: number; cachedPromptTokens: number } | null;
}

export interface RequestTimings {
  arrivalTime: number;
  queueTime: number;
  timeToFirstToken: number | null;
  interTokenLatencies: number[];
  e2eLatency: number | null;
}

export interface EngineStats {
  numRunning: number;
  numWaiting: number;
  kvCacheUsage: number;
  numBlocks: number;
  numFreeBlocks: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  numPreemptions: number;
  promptTokens: number;
  generationTokens: number;
}
