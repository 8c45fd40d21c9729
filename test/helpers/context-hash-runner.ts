// A ModelRunner for fast property tests of the engine: its "KV cache" stores the token id written
// in each slot, and the next token of a sequence is a hash of its whole context read back through
// the block table (positions 0..p), mixed with the seed and output index when sampling. Any error
// in block tables, slot mapping, copy-on-write, prefix caching or preemption changes the tokens,
// and `expectedTokens` computes what they must be without any KV cache at all. It checks the
// StepBatch as strictly as native/addon/step_batch.cpp does. Like the native model it takes a
// second step while one runs and fills chainedTokens from the previous step's samples; a row
// `resample` names plays the GPU sampler's host fallback: the chained step reads token 0 for it,
// the result has the right token and lists the row in resampledRows. Real-model tests cover the
// forward.
import type { StepBatch, StepResult } from '../../lib/engine/step-batch.js';
import type { ModelRunner } from '../../lib/engine/types.js';
import type { ModelConfig } from '../../lib/model/types.js';

export interface ContextHashOptions {
  vocabSize?: number;
  maxContext?: number;
  eosTokenIds?: number[];
  /** Called before step number `n` (0-based) runs; throwing makes the step reject, like a failing native step. */
  beforeStep?: (n: number, batch: StepBatch) => void;
  /** Whether it fills chainedTokens (default true); false: the engine does not chain steps. */
  chainedTokens?: boolean;
  /** Rows of step `n` whose token the "host fallback" redid (see above). */
  resample?: (n: number, row: number) => boolean;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** A hash of (step, row): which rows a test has the fake host fallback redo. */
export function mixRow(step: number, row: number): number {
  return mix(mix(0x51ed, step + 1), row + 1);
}

export function contextHash(context: ArrayLike<number>): number {
  let h = 0x12345;
  for (let i = 0; i < context.length; i++) h = mix(h, context[i] + 1);
  return h;
}

/** The token this model gives after `context` (greedy when seed is null). */
export function nextToken(context: ArrayLike<number>, vocab: number, seed: bigint | null, outputIndex: number): number {
  let h = contextHash(context);
  if (seed !== null) h = mix(mix(mix(h, Number(seed & 0xffffffffn)), Number(seed >> 32n)), outputIndex + 1);
  return h % vocab;
}

/** The tokens a request must produce, computed directly from the context (no KV cache). */
export function expectedTokens(
  prompt: number[],
  maxTokens: number,
  vocab: number,
  seed: bigint | null,
  stop: (token: number) => boolean = () => false,
): number[] {
  const context = [...prompt];
  const out: number[] = [];
  while (out.length < maxTokens) {
    const t = nextToken(context, vocab, seed, out.length);
    out.push(t);
    context.push(t);
    if (stop(t)) break;
  }
  return out;
}

export class ContextHashRunner implements ModelRunner {
  readonly config: ModelConfig;
  /** Every batch it ran, in order (tests count tokens and look at shapes). */
  readonly batches: { numTokens: number; numSeqs: number; numRows: number; numCopies: number }[] = [];
  private slots = new Int32Array(0);
  private blockSize = 0;
  private numBlocks = 0;
  private stepCount = 0;
  private readonly beforeStep: ContextHashOptions['beforeStep'];
  private readonly resample: ContextHashOptions['resample'];
  readonly supportsChainedTokens: boolean;
  /** The last step's sampled ids as a chained step reads them (-1 for a resampled row); null after a failure. */
  private prevIds: Int32Array | null = null;
  private inFlight = 0;
  /** Steps that had chainedTokens, and rows reported resampled. */
  numChainedSteps = 0;
  numResampledRows = 0;

  constructor(options: ContextHashOptions = {}) {
    const vocabSize = options.vocabSize ?? 50;
    this.beforeStep = options.beforeStep;
    this.resample = options.resample;
    this.supportsChainedTokens = options.chainedTokens ?? true;
    this.config = {
      architecture: 'llama',
      hiddenSize: 8,
      intermediateSize: 8,
      numLayers: 1,
      numHeads: 1,
      numKvHeads: 1,
      headDim: 8,
      vocabSize,
      maxContext: options.maxContext ?? 4096,
      rmsNormEps: 1e-5,
      rope: { theta: 10000, style: 'neox', rotaryDim: 8, scaling: null },
      tieWordEmbeddings: true,
      attentionBias: false,
      qkNorm: false,
      bosTokenId: null,
      eosTokenIds: options.eosTokenIds ?? [],
    };
  }

  kvCacheBytesPerBlock(blockSize: number): number {
    return blockSize * 4;
  }
  availableMemory(): number {
    return 1 << 20;
  }
  initKvCache(numBlocks: number, blockSize: number): void {
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    this.slots = new Int32Array(numBlocks * blockSize).fill(-1);
  }

  step(batch: StepBatch): Promise<StepResult> {
    if (this.inFlight >= 2) return Promise.reject(new Error('the model is busy: at most two steps in flight'));
    this.inFlight++;
    // Resolve on a later turn of the event loop, as a native step does; steps run in order.
    return new Promise<StepResult>((resolve, reject) =>
      setImmediate(() => {
        const n = this.stepCount++;
        try {
          this.beforeStep?.(n, batch);
          resolve(this.run(batch, n));
        } catch (e) {
          this.prevIds = null;
          reject(e);
        }
      }),
    ).finally(() => this.inFlight--);
  }

  /** chainedTokens filled in as native code does, from the previous step's ids. */
  private tokensOf(b: StepBatch): Int32Array {
    const chain = b.chainedTokens;
    if (!chain || chain.length === 0) return b.tokenIds;
    this.numChainedSteps++;
    const prev = this.prevIds;
    const tokens = Int32Array.from(b.tokenIds);
    for (let i = 0; i + 1 < chain.length; i += 2) {
      const [index, row] = [chain[i], chain[i + 1]];
      if (index < 0 || index >= b.numTokens) throw new Error('StepBatch: chainedTokens token index');
      if (!prev || row < 0 || row >= prev.length) throw new Error('StepBatch: chainedTokens row of a step that did not sample it');
      tokens[index] = Math.max(prev[row], 0);
    }
    return tokens;
  }

  private run(b: StepBatch, n: number): StepResult {
    const tokenIds = this.tokensOf(b);
    this.prevIds = null;
    const bs = this.blockSize;
    const check = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`StepBatch: ${what}`);
    };
    check(b.queryStart.length === b.numSeqs + 1 && b.queryStart[0] === 0 && b.queryStart[b.numSeqs] === b.numTokens, 'queryStart');
    check(b.tokenIds.length === b.numTokens && b.positions.length === b.numTokens && b.slotMapping.length === b.numTokens, 'lengths');
    check(b.blockTable.length === b.numSeqs * b.maxBlocksPerSeq, 'blockTable size');
    for (let i = 0; i < b.blockCopies.length; i += 2) {
      const [src, dst] = [b.blockCopies[i], b.blockCopies[i + 1]];
      check(src >= 0 && src < this.numBlocks && dst >= 0 && dst < this.numBlocks && src !== dst, 'blockCopies');
      this.slots.copyWithin(dst * bs, src * bs, src * bs + bs);
    }
    const tokenSeq = new Int32Array(b.numTokens);
    for (let s = 0; s < b.numSeqs; s++) {
      const q0 = b.queryStart[s];
      const q1 = b.queryStart[s + 1];
      check(q1 > q0, 'a sequence without tokens');
      for (let t = q0; t < q1; t++) {
        tokenSeq[t] = s;
        check(b.positions[t] === b.seqLens[s] - (q1 - t), 'positions must be the last tokens of the sequence');
        const block = b.blockTable[s * b.maxBlocksPerSeq + Math.floor(b.positions[t] / bs)];
        check(block >= 0 && block < this.numBlocks, 'blockTable entry');
        check(b.slotMapping[t] === block * bs + (b.positions[t] % bs), 'slotMapping disagrees with the block table');
        check(tokenIds[t] >= 0 && tokenIds[t] < this.config.vocabSize, 'token id');
      }
    }
    for (let t = 0; t < b.numTokens; t++) this.slots[b.slotMapping[t]] = tokenIds[t];

    const rows = b.logitRows.length;
    const sm = b.sampling!;
    const tokens = new Int32Array(rows);
    const logprobs = new Float32Array(rows);
    let maxTopN = 0;
    for (let r = 0; r < rows; r++) maxTopN = Math.max(maxTopN, sm.numLogprobs[r]);
    const topIds = new Int32Array(rows * maxTopN).fill(-1);
    const topLogprobs = new Float32Array(rows * maxTopN).fill(-Infinity);
    for (let r = 0; r < rows; r++) {
      const t = b.logitRows[r];
      const s = tokenSeq[t];
      const context = new Int32Array(b.positions[t] + 1);
      for (let p = 0; p < context.length; p++) {
        context[p] = this.slots[b.blockTable[s * b.maxBlocksPerSeq + Math.floor(p / bs)] * bs + (p % bs)];
        check(context[p] >= 0, `sequence ${s} reads an unwritten slot at position ${p}`);
      }
      const p0 = sm.penaltyOffsets[r];
      const p1 = sm.penaltyOffsets[r + 1];
      if (p1 > p0) {
        check(p1 - p0 === context.length, 'penalty tokens must be the whole context');
        for (let i = 0; i < context.length; i++) check(sm.penaltyTokens[p0 + i] === context[i], 'penalty tokens differ from the context');
      }
      const seed = sm.temperature[r] === 0 ? null : BigInt(sm.seeds[2 * r]) | (BigInt(sm.seeds[2 * r + 1]) << 32n);
      tokens[r] = nextToken(context, this.config.vocabSize, seed, sm.outputIndex[r]);
      logprobs[r] = -(tokens[r] % 7) / 10;
      for (let j = 0; j < sm.numLogprobs[r]; j++) {
        topIds[r * maxTopN + j] = (tokens[r] + j) % this.config.vocabSize;
        topLogprobs[r * maxTopN + j] = -j;
      }
    }
    this.batches.push({ numTokens: b.numTokens, numSeqs: b.numSeqs, numRows: rows, numCopies: b.blockCopies.length / 2 });
    const ids = Int32Array.from(tokens);
    const resampled: number[] = [];
    for (let r = 0; r < rows; r++) {
      if (!this.resample?.(n, r)) continue;
      resampled.push(r);
      ids[r] = -1;
    }
    this.numResampledRows += resampled.length;
    this.prevIds = ids;
    return { tokens, logprobs, topIds, topLogprobs, maxTopN, logits: null, resampledRows: Int32Array.from(resampled) };
  }
}
