// The one thing that crosses into native code each step (see docs/DESIGN.md): flat typed arrays,
// varlen, prefill chunks and decode tokens mixed. Built in one place (the scheduler's
// step builder); read by native/addon/step_batch.cpp, which checks every index before use.

/** Sampling parameters of the rows that sample this step, one entry per row of `logitRows`. */
export interface SamplingBatch {
  /** 0 means greedy. */
  temperature: Float32Array;
  /** 0 or less: no top-k. */
  topK: Int32Array;
  /** 1: no top-p. */
  topP: Float32Array;
  /** 0: no min-p. */
  minP: Float32Array;
  /** 1: none. Applied to prompt and output tokens (Hugging Face / vLLM semantics). */
  repetitionPenalty: Float32Array;
  /** 0: none. Applied to output tokens. */
  presencePenalty: Float32Array;
  /** 0: none. Applied to output tokens. */
  frequencyPenalty: Float32Array;
  /** 64-bit seed of each row's request as (low, high) 32-bit words. */
  seeds: Uint32Array;
  /** Index of the token being sampled in its sequence's output (0 for the first): with the seed, the RNG counter, so a seed gives the same tokens however requests are batched. */
  outputIndex: Int32Array;
  /** Number of top logprobs to return: -1 none, 0 only the chosen token's, n the top n as well. */
  numLogprobs: Int32Array;
  /**
   * Tokens the penalties look at, for rows that have any penalty: row r's tokens are
   * penaltyTokens[penaltyOffsets[r] .. penaltyOffsets[r+1]), the first penaltyPromptLens[r] of them
   * the prompt, the rest the output so far. Rows without penalties have empty ranges.
   */
  penaltyTokens: Int32Array;
  penaltyOffsets: Int32Array;
  penaltyPromptLens: Int32Array;
}

export interface StepBatch {
  numTokens: number;
  numSeqs: number;
  /** Input tokens of all sequences, concatenated. [numTokens] */
  tokenIds: Int32Array;
  /** Absolute position of each token. [numTokens] */
  positions: Int32Array;
  /** Where each sequence's tokens start in tokenIds. [numSeqs + 1] */
  queryStart: Int32Array;
  /** Context length of each sequence after this step (cached + new). [numSeqs] */
  seqLens: Int32Array;
  /** Physical KV block of each logical block, maxBlocksPerSeq per sequence (-1 padded). */
  blockTable: Int32Array;
  maxBlocksPerSeq: number;
  /** KV slot (block * blockSize + offset) that each new token writes. [numTokens] */
  slotMapping: Int32Array;
  /** Token rows whose logits are computed (the last token of each sequence that samples). */
  logitRows: Int32Array;
  /** How to sample each logit row; null returns logits only (tests and scoring). */
  sampling: SamplingBatch | null;
  /** Also return the logits of every logit row (tests, scoring). */
  returnLogits: boolean;
  /** Copy-on-write block copies to do before the forward: (src, dst) pairs. */
  blockCopies: Int32Array;
  /**
   * Async scheduling: (tokenIndex, prevRow) pairs. Before the forward, tokenIds[tokenIndex] becomes
   * the token sampled at logit row prevRow of the step submitted just before this one on the same
   * model, which may still be running. Absent or empty: tokenIds are used as they are.
   */
  chainedTokens?: Int32Array;
}

export interface StepResult {
  /** Sampled token of each logit row (empty when sampling is null). */
  tokens: Int32Array;
  /** Log-probability of each sampled token under the model's raw distribution (NaN when not asked). */
  logprobs: Float32Array;
  /** Top-n ids and logprobs per row, maxTopN per row (padded with -1 / -Infinity). */
  topIds: Int32Array;
  topLogprobs: Float32Array;
  maxTopN: number;
  /** [logitRows.length * vocabSize] when returnLogits was set. */
  logits: Float32Array | null;
  /**
   * Rows whose token the host sampler redid after the device had flagged them (CUDA; normally
   * empty): a step chained to this one read token 0 for them, not the token returned here.
   */
  resampledRows?: Int32Array;
}
