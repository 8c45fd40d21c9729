// The sequence record: one output stream of a request, with what the KV cache and the scheduler
// need to know about it. A request with n > 1 starts as one sequence that prefills the prompt and
// forks into n when the prompt's last token samples (the children share the prompt's blocks).
import type { SamplingParams } from '../sampling/params.js';

export type SequenceStatus = 'waiting' | 'running' | 'finished';

export interface Sequence {
  readonly seqId: number;
  readonly requestId: string;
  /** Index of this output among the request's n. */
  readonly index: number;
  /** Shared by the forks of one request; never written. */
  readonly promptTokenIds: Int32Array;
  readonly outputTokenIds: number[];
  readonly params: SamplingParams;
  /** 64-bit seed this sequence samples with (the request's seed mixed with the index, or random). */
  readonly seed: bigint;
  /** Seeds of the n outputs while this sequence is a request's unforked first one (row k of the fork samples with forkSeeds[k]); else empty. */
  forkSeeds: readonly bigint[];
  /** With schedulingPolicy 'priority': lower runs first. */
  readonly priority: number;
  /** Arrival order of the request (FCFS tie-break, preemption victim choice). */
  readonly arrivalOrder: number;
  status: SequenceStatus;
  /**
   * Tokens whose KV is written by a completed step or by a step already built (the scheduler
   * advances it when it plans a step, like vLLM v1), starting at 0.
   */
  numComputedTokens: number;
  /** Physical KV block of each logical block. */
  blockTable: number[];
  /** Chained hash of each full block of known tokens, computed once (prefix caching). */
  blockHashes: string[];
  /** How many leading blocks of blockTable are registered in the prefix cache (or known duplicates). */
  numRegisteredBlocks: number;
  /** Sampled tokens of built steps that have not come back yet (0 or 1). */
  pendingSamples: number;
  /** Built steps that include this sequence and have not completed: its blocks stay until 0. */
  pendingSteps: number;
  /** Rows to sample when the prompt completes: n for a request's first sequence until it forks, then 1. */
  forkWidth: number;
  /** Prompt tokens found in the prefix cache at first admission (usage.cachedPromptTokens). */
  numCachedPromptTokens: number;
  /** Whether it was ever scheduled (the first admission counts the request's prompt). */
  everScheduled: boolean;
  numPreemptions: number;
  /** Bumped whenever the sequence loses its blocks (preemption, rollback): a step planned before
   * then must not register its blocks in the prefix cache. */
  epoch: number;
}

export interface NewSequence {
  seqId: number;
  requestId: string;
  index: number;
  promptTokenIds: Int32Array;
  params: SamplingParams;
  seed: bigint;
  forkSeeds: readonly bigint[];
  priority: number;
  arrivalOrder: number;
  forkWidth: number;
}

export function createSequence(s: NewSequence): Sequence {
  return {
    ...s,
    outputTokenIds: [],
    status: 'waiting',
    numComputedTokens: 0,
    blockTable: [],
    blockHashes: [],
    numRegisteredBlocks: 0,
    pendingSamples: 0,
    pendingSteps: 0,
    numCachedPromptTokens: 0,
    everScheduled: false,
    numPreemptions: 0,
    epoch: 0,
  };
}

/** Known tokens: the prompt and the output so far. */
export function numTokens(seq: Sequence): number {
  return seq.promptTokenIds.length + seq.outputTokenIds.length;
}

/** Known tokens plus the sampled token still in flight, which the next step may already use. */
export function numPlannedTokens(seq: Sequence): number {
  return numTokens(seq) + seq.pendingSamples;
}

export function tokenAt(seq: Sequence, position: number): number {
  const p = seq.promptTokenIds.length;
  return position < p ? seq.promptTokenIds[position] : seq.outputTokenIds[position - p];
}

/** A child of `parent` after its prompt completed: same prompt; the scheduler shares the blocks. */
export function forkSequence(parent: Sequence, seqId: number, index: number, seed: bigint): Sequence {
  const child = createSequence({
    seqId,
    requestId: parent.requestId,
    index,
    promptTokenIds: parent.promptTokenIds,
    params: parent.params,
    seed,
    forkSeeds: [],
    priority: parent.priority,
    arrivalOrder: parent.arrivalOrder,
    forkWidth: 1,
  });
  child.numCachedPromptTokens = parent.numCachedPromptTokens;
  child.everScheduled = true;
  return child;
}
