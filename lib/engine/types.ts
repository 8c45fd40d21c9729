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
  /** Optional: the device's whole memory (GPUs), for gpuMemoryUtilization. */
  totalMemory?(): number | undefined;
  initKvCache(numBlocks: number, blockSize: number): void;
  /** Optional: allocate the activations of the largest step before the KV cache is sized. */
  reserveWorkspace?(tokens: number, logitRows: number): void;
  /** Optional: run a step of each size class once (after initKvCache), so no request pays for per-shape setup. */
  warmup?(maxTokens: number, maxSeqs: number): Promise<void>;
  /**
   * One step. A second may be submitted while one runs (never more): it runs after the first, and
   * its chainedTokens read the first one's samples.
   */
  step(batch: StepBatch): Promise<StepResult>;
  /** Whether step() fills StepBatch.chainedTokens (async scheduling); absent: it does not. */
  readonly supportsChainedTokens?: boolean;
  /** Which backend runs it ('cpu', 'cuda', ...): picks the default kvCacheFraction. Absent: treated as the CPU. */
  readonly backend?: { readonly name: string };
}

export interface EngineOptions {
  /** Tokens per KV block (default 16). */
  blockSize?: number;
  /** KV cache size in bytes; default: kvCacheFraction of the backend's available memory. */
  kvCacheBytes?: number;
  /** Fraction of available memory for the KV cache when kvCacheBytes is not given (default 0.9 on GPUs, 0.25 on the CPU). */
  kvCacheFraction?: number;
  /**
   * As vLLM's: the share of the GPU's whole memory this engine may hold (weights, activations and
   * KV cache); when given, the KV cache is what is left of it. GPU backends only.
   */
  gpuMemoryUtilization?: number;
  /** Most sequences in one step (default 512 on a GPU, 256 on the CPU). */
  maxNumSeqs?: number;
  /** Token budget of one step: decode tokens first, then chunked prefill (default 8192 on a GPU, 2048 on the CPU). */
  maxNumBatchedTokens?: number;
  /**
   * Prompt tokens a step may add while sequences decode in it (default: maxNumBatchedTokens).
   * Every stream waits for the whole step, so a smaller value bounds the inter-token latency
   * under load at the cost of slower prefill; `pagedinfer serve` sets it (see docs/server.md).
   */
  maxPrefillTokensWhileDecoding?: number;
  /** Longest prompt + output (default: the model's context). */
  maxModelLen?: number;
  /** Automatic prefix caching (default true). */
  enablePrefixCaching?: boolean;
  /** 'fcfs' (default) or 'priority' (lower value first, then arrival). */
  schedulingPolicy?: 'fcfs' | 'priority';
  /**
   * Launch step N+1 before step N's tokens are back, its inputs from step N filled in by native code
   * (default true, where the runner supports it). false: wait for each step's result first.
   */
  asyncScheduling?: boolean;
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

/** Per-request latencies for metrics, all in seconds (as vLLM reports them to Prometheus). */
export interface RequestTimings {
  /** Wall-clock arrival, seconds since the Unix epoch. */
  arrivalTime: number;
  /** From arrival to the first step that ran the request (to its end when it never ran). */
  queueTime: number;
  /** From arrival to the first generated token. */
  timeToFirstToken: number | null;
  /** Between consecutive steps that gave the request tokens (all of its n outputs together). */
  interTokenLatencies: number[];
  /** From arrival to the end. */
  e2eLatency: number | null;
}

/** What the engine reports when a request ends, for metrics and logs. */
export interface FinishedRequest {
  requestId: string;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  /** Of each of the n outputs. */
  finishReasons: FinishReason[];
  /** Times one of its sequences was preempted (recomputed later). */
  numPreemptions: number;
  timings: RequestTimings;
  /** Set when the request failed (a native step error); its iterator threw it. */
  error: Error | null;
}

export interface EngineStats {
  numRunning: number;
  numWaiting: number;
  kvCacheUsage: number;
  numBlocks: number;
  numFreeBlocks: number;
  /** Prompt tokens looked up in the prefix cache at admission (vLLM counts tokens too). */
  prefixCacheQueries: number;
  /** Of those, tokens whose KV was found. */
  prefixCacheHits: number;
  numPreemptions: number;
  /** Prompt tokens of the requests that started (cached ones included). */
  promptTokens: number;
  /** Tokens sampled. */
  generationTokens: number;
  /** Tokens the native steps computed (prefill chunks and decodes; a prefix-cache hit saves these). */
  computedTokens: number;
  numSteps: number;
}
