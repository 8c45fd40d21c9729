// The one place that turns the scheduler's plan into the flat StepBatch that native code reads.
// Two sets of typed arrays are reused in turn: native code reads step N's arrays from its own
// thread while step N+1 is built into the other set, so nothing is allocated per token (the
// engine builds step N+2 only once step N is done). A token of step N+1 that step N is still
// sampling is a placeholder: filled in here once N is back (resolvePlaceholders), or chained to
// N's logit row so that native code fills it and N+1 can launch at once (chain).
import type { SamplingBatch, StepBatch } from './step-batch.js';
import type { StepPlan } from './scheduler.js';
import { tokenAt, type Sequence } from './sequence.js';

/** A token of the next step that is the sampled output of the step still running. */
interface Placeholder {
  seq: Sequence;
  /** Its position in the sequence (prompt + output). */
  position: number;
  tokenIndex: number;
  /** Where it also appears in penaltyTokens, or -1. */
  penaltyIndex: number;
}

export interface BuiltStep {
  plan: StepPlan;
  batch: StepBatch;
  placeholders: Placeholder[];
  /** After chain(): which row of the previous step each sequence's placeholder token reads. */
  chainedFrom: { seq: Sequence; prevRow: number }[];
  /** Index of the buffer set its arrays live in. */
  set: number;
}

/** Token id written for a placeholder whose sequence ended without the token (it is never used). */
const UNUSED_TOKEN = 0;

type NumberArray = Int32Array | Uint32Array | Float32Array;

/** A typed array that grows (by powers of two) and is otherwise reused. */
class Growable<T extends NumberArray> {
  data: T;
  private readonly make: (n: number) => T;
  constructor(make: (n: number) => T) {
    this.make = make;
    this.data = make(64);
  }
  ensure(n: number): T {
    if (this.data.length < n) this.data = this.make(grow(n));
    return this.data;
  }
}

const int32s = () => new Growable((n) => new Int32Array(n));
const uint32s = () => new Growable((n) => new Uint32Array(n));
const float32s = () => new Growable((n) => new Float32Array(n));

function grow(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, 64)));
}

/** One set of arrays for one batch. */
class StepBuffers {
  readonly tokenIds = int32s();
  readonly positions = int32s();
  readonly slotMapping = int32s();
  readonly queryStart = int32s();
  readonly seqLens = int32s();
  readonly blockTable = int32s();
  readonly logitRows = int32s();
  readonly blockCopies = int32s();
  readonly temperature = float32s();
  readonly topK = int32s();
  readonly topP = float32s();
  readonly minP = float32s();
  readonly repetitionPenalty = float32s();
  readonly presencePenalty = float32s();
  readonly frequencyPenalty = float32s();
  readonly seeds = uint32s();
  readonly outputIndex = int32s();
  readonly numLogprobs = int32s();
  readonly penaltyTokens = int32s();
  readonly penaltyOffsets = int32s();
  readonly penaltyPromptLens = int32s();
  readonly chainedTokens = int32s();
}

const U64_LOW = 0xffffffffn;

export class StepBuilder {
  private readonly blockSize: number;
  private readonly sets = [new StepBuffers(), new StepBuffers()];
  private turn = 0;

  constructor(blockSize: number) {
    this.blockSize = blockSize;
  }

  build(plan: StepPlan): BuiltStep {
    const set = this.turn;
    const b = this.sets[set];
    this.turn ^= 1;
    const bs = this.blockSize;
    const numSeqs = plan.scheduled.length;
    const numTokens = plan.numTokens;
    let numRows = 0;
    let maxBlocks = 1;
    let numPenaltyTokens = 0;
    for (const s of plan.scheduled) {
      numRows += s.numSamples;
      maxBlocks = Math.max(maxBlocks, Math.ceil((s.start + s.numNewTokens) / bs));
      if (s.numSamples > 0 && hasPenalty(s.seq)) numPenaltyTokens += s.numSamples * (s.seq.promptTokenIds.length + s.outputIndex);
    }

    const tokenIds = b.tokenIds.ensure(numTokens);
    const positions = b.positions.ensure(numTokens);
    const slotMapping = b.slotMapping.ensure(numTokens);
    const queryStart = b.queryStart.ensure(numSeqs + 1);
    const seqLens = b.seqLens.ensure(numSeqs);
    const blockTable = b.blockTable.ensure(numSeqs * maxBlocks);
    const logitRows = b.logitRows.ensure(numRows);
    const placeholders: Placeholder[] = [];

    let t = 0;
    let row = 0;
    for (let i = 0; i < numSeqs; i++) {
      const s = plan.scheduled[i];
      const seq = s.seq;
      const known = seq.promptTokenIds.length + seq.outputTokenIds.length;
      queryStart[i] = t;
      const end = s.start + s.numNewTokens;
      seqLens[i] = end;
      const table = seq.blockTable;
      const tableRow = i * maxBlocks;
      const used = Math.ceil(end / bs);
      for (let j = 0; j < maxBlocks; j++) blockTable[tableRow + j] = j < used ? table[j] : -1;
      for (let p = s.start; p < end; p++, t++) {
        if (p < known) tokenIds[t] = tokenAt(seq, p);
        else {
          tokenIds[t] = UNUSED_TOKEN;
          placeholders.push({ seq, position: p, tokenIndex: t, penaltyIndex: -1 });
        }
        positions[t] = p;
        slotMapping[t] = table[Math.floor(p / bs)] * bs + (p % bs);
      }
      // A fork samples its n first tokens from the same row: n logit rows, one token row.
      for (let k = 0; k < s.numSamples; k++) logitRows[row++] = t - 1;
    }
    queryStart[numSeqs] = t;

    const blockCopies = b.blockCopies.ensure(plan.blockCopies.length);
    blockCopies.set(plan.blockCopies);

    const batch: StepBatch = {
      numTokens,
      numSeqs,
      tokenIds: tokenIds.subarray(0, numTokens),
      positions: positions.subarray(0, numTokens),
      queryStart: queryStart.subarray(0, numSeqs + 1),
      seqLens: seqLens.subarray(0, numSeqs),
      blockTable: blockTable.subarray(0, numSeqs * maxBlocks),
      maxBlocksPerSeq: maxBlocks,
      slotMapping: slotMapping.subarray(0, numTokens),
      logitRows: logitRows.subarray(0, numRows),
      sampling: this.buildSampling(b, plan, numRows, numPenaltyTokens, placeholders),
      returnLogits: false,
      blockCopies: blockCopies.subarray(0, plan.blockCopies.length),
    };
    return { plan, batch, placeholders, chainedFrom: [], set };
  }

  /**
   * Makes `built` launchable while `prev`, the step before it, still runs: each placeholder token
   * becomes a (tokenIndex, prevRow) pair of batch.chainedTokens, the row of prev that samples it
   * (rows come in plan order, numSamples per sequence, the sequence's own first). False, with
   * nothing changed, when some placeholder cannot be chained: a penalty token (penalties are
   * computed from token lists on the host) or a token prev does not sample.
   */
  chain(built: BuiltStep, prev: BuiltStep): boolean {
    const sampled = new Map<Sequence, { row: number; position: number }>();
    let row = 0;
    for (const s of prev.plan.scheduled) {
      if (s.numSamples > 0) sampled.set(s.seq, { row, position: s.start + s.numNewTokens });
      row += s.numSamples;
    }
    for (const ph of built.placeholders) {
      const from = sampled.get(ph.seq);
      if (ph.penaltyIndex >= 0 || ph.tokenIndex < 0 || !from || from.position !== ph.position) return false;
    }
    const pairs = this.sets[built.set].chainedTokens.ensure(2 * built.placeholders.length);
    built.chainedFrom = [];
    built.placeholders.forEach((ph, i) => {
      const prevRow = sampled.get(ph.seq)!.row;
      pairs[2 * i] = ph.tokenIndex;
      pairs[2 * i + 1] = prevRow;
      built.chainedFrom.push({ seq: ph.seq, prevRow });
    });
    built.batch.chainedTokens = pairs.subarray(0, 2 * built.placeholders.length);
    return true;
  }

  /**
   * Writes the tokens that the previous step has now sampled into this built step. A sequence
   * that ended without one (aborted) gets a harmless id: its row's result is discarded.
   */
  resolvePlaceholders(built: BuiltStep): void {
    const { tokenIds } = built.batch;
    const penaltyTokens = built.batch.sampling?.penaltyTokens;
    for (const ph of built.placeholders) {
      const seq = ph.seq;
      const known = seq.promptTokenIds.length + seq.outputTokenIds.length;
      const token = ph.position < known ? tokenAt(seq, ph.position) : UNUSED_TOKEN;
      if (ph.tokenIndex >= 0) tokenIds[ph.tokenIndex] = token;
      if (ph.penaltyIndex >= 0 && penaltyTokens) penaltyTokens[ph.penaltyIndex] = token;
    }
  }

  private buildSampling(b: StepBuffers, plan: StepPlan, numRows: number, numPenaltyTokens: number, placeholders: Placeholder[]): SamplingBatch {
    const temperature = b.temperature.ensure(numRows);
    const topK = b.topK.ensure(numRows);
    const topP = b.topP.ensure(numRows);
    const minP = b.minP.ensure(numRows);
    const repetitionPenalty = b.repetitionPenalty.ensure(numRows);
    const presencePenalty = b.presencePenalty.ensure(numRows);
    const frequencyPenalty = b.frequencyPenalty.ensure(numRows);
    const seeds = b.seeds.ensure(2 * numRows);
    const outputIndex = b.outputIndex.ensure(numRows);
    const numLogprobs = b.numLogprobs.ensure(numRows);
    const penaltyTokens = b.penaltyTokens.ensure(numPenaltyTokens);
    const penaltyOffsets = b.penaltyOffsets.ensure(numRows + 1);
    const penaltyPromptLens = b.penaltyPromptLens.ensure(numRows);

    let row = 0;
    let pt = 0;
    for (const s of plan.scheduled) {
      const seq = s.seq;
      const p = seq.params;
      for (let k = 0; k < s.numSamples; k++, row++) {
        temperature[row] = p.temperature;
        topK[row] = p.topK;
        topP[row] = p.topP;
        minP[row] = p.minP;
        repetitionPenalty[row] = p.repetitionPenalty;
        presencePenalty[row] = p.presencePenalty;
        frequencyPenalty[row] = p.frequencyPenalty;
        const seed = k === 0 ? seq.seed : seq.forkSeeds[k];
        seeds[2 * row] = Number(seed & U64_LOW);
        seeds[2 * row + 1] = Number((seed >> 32n) & U64_LOW);
        outputIndex[row] = s.outputIndex;
        numLogprobs[row] = p.logprobs ?? -1;
        penaltyOffsets[row] = pt;
        penaltyPromptLens[row] = 0;
        if (hasPenalty(seq)) {
          // The prompt, then the output before the token sampled now (the last may still be in flight).
          const promptLen = seq.promptTokenIds.length;
          penaltyTokens.set(seq.promptTokenIds, pt);
          pt += promptLen;
          const known = seq.outputTokenIds.length;
          for (let o = 0; o < s.outputIndex; o++, pt++) {
            if (o < known) penaltyTokens[pt] = seq.outputTokenIds[o];
            else {
              penaltyTokens[pt] = UNUSED_TOKEN;
              placeholders.push({ seq, position: promptLen + o, tokenIndex: -1, penaltyIndex: pt });
            }
          }
          penaltyPromptLens[row] = promptLen;
        }
      }
    }
    penaltyOffsets[numRows] = pt;
    return {
      temperature: temperature.subarray(0, numRows),
      topK: topK.subarray(0, numRows),
      topP: topP.subarray(0, numRows),
      minP: minP.subarray(0, numRows),
      repetitionPenalty: repetitionPenalty.subarray(0, numRows),
      presencePenalty: presencePenalty.subarray(0, numRows),
      frequencyPenalty: frequencyPenalty.subarray(0, numRows),
      seeds: seeds.subarray(0, 2 * numRows),
      outputIndex: outputIndex.subarray(0, numRows),
      numLogprobs: numLogprobs.subarray(0, numRows),
      penaltyTokens: penaltyTokens.subarray(0, pt),
      penaltyOffsets: penaltyOffsets.subarray(0, numRows + 1),
      penaltyPromptLens: penaltyPromptLens.subarray(0, numRows),
    };
  }
}

function hasPenalty(seq: Sequence): boolean {
  const p = seq.params;
  return p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0;
}
