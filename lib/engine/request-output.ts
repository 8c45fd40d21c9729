// What a request's caller sees: its n outputs turned into streamed chunks (text deltas through the
// incremental detokenizer and the stop-string matcher), finish reasons, usage on the last chunk,
// and the request's timings for metrics.
import type { SamplingParams } from '../sampling/params.js';
import type { StepResult } from './step-batch.js';
import { IncrementalDetokenizer } from '../tokenizer/detokenizer.js';
import { StopStringMatcher } from '../tokenizer/stop-strings.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { ChunkStream } from './chunk-stream.js';
import { numTokens, type Sequence } from './sequence.js';
import type { EngineChunk, FinishedRequest, FinishReason, RequestTimings, TokenLogprob } from './types.js';

/** Why a sequence ends with the token just appended, by the token-level rules. */
export interface TokenFinish {
  reason: FinishReason;
  stopReason: number | null;
  /** The token itself ends the output (EOS or a stop token id): its text is not part of it. */
  stopTerminated: boolean;
}

/** vLLM's order: length first, then EOS (unless ignoreEos), then stop token ids. */
export function tokenFinish(seq: Sequence, token: number, eosTokenIds: readonly number[], maxModelLen: number): TokenFinish | null {
  const p = seq.params;
  if (seq.outputTokenIds.length >= p.maxTokens || numTokens(seq) >= maxModelLen)
    return { reason: 'length', stopReason: null, stopTerminated: false };
  if (!p.ignoreEos && eosTokenIds.includes(token)) return { reason: 'stop', stopReason: null, stopTerminated: true };
  if (p.stopTokenIds.includes(token)) return { reason: 'stop', stopReason: token, stopTerminated: true };
  return null;
}

/** The text of one output: incremental detokenization, then stop strings. */
class OutputText {
  private readonly detokenizer: IncrementalDetokenizer | null;
  private readonly stops: StopStringMatcher | null;

  constructor(tokenizer: Tokenizer | null, prompt: readonly number[], params: SamplingParams) {
    this.detokenizer = tokenizer ? new IncrementalDetokenizer(tokenizer, prompt, params.skipSpecialTokens) : null;
    this.stops = tokenizer && params.stop.length > 0 ? new StopStringMatcher(params.stop) : null;
  }

  /** The text this token adds, and the stop string it completed, if any. `final`: flush what is held back. */
  add(token: number, stopTerminated: boolean, final: boolean): { text: string; stop: string | null } {
    if (!this.detokenizer) return { text: '', stop: null };
    let delta = stopTerminated ? '' : this.detokenizer.add(token);
    if (final) delta += this.detokenizer.finish();
    if (!this.stops) return { text: delta, stop: null };
    const m = this.stops.push(delta);
    if (m.stop !== null || !final) return m;
    return { text: m.text + this.stops.flush(), stop: null };
  }
}

export interface RequestInit {
  requestId: string;
  prompt: Int32Array;
  params: SamplingParams;
  tokenizer: Tokenizer | null;
  onCancel: () => void;
}

export class RequestOutput {
  readonly requestId: string;
  readonly prompt: Int32Array;
  readonly params: SamplingParams;
  /** Its sequences by output index (the children appear when the prompt's sequence forks). */
  readonly seqs: Sequence[] = [];
  readonly stream: ChunkStream<EngineChunk>;
  /** Called once when the request ends (removes the AbortSignal listener). */
  detach: () => void = () => {};
  private readonly texts: OutputText[];
  private readonly finishReasons: (FinishReason | null)[];
  private unfinished: number;
  private readonly arrivalWall = Date.now() / 1000;
  private readonly arrival = performance.now();
  private firstScheduled: number | null = null;
  private firstToken: number | null = null;
  private lastToken: number | null = null;
  private lastTokenStep = -1;
  private readonly interTokenLatencies: number[] = [];

  constructor(init: RequestInit) {
    this.requestId = init.requestId;
    this.prompt = init.prompt;
    this.params = init.params;
    const promptIds = init.tokenizer ? Array.from(init.prompt) : [];
    this.texts = Array.from({ length: init.params.n }, () => new OutputText(init.tokenizer, promptIds, init.params));
    this.finishReasons = new Array<FinishReason | null>(init.params.n).fill(null);
    this.unfinished = init.params.n;
    this.stream = new ChunkStream<EngineChunk>(init.onCancel);
  }

  get isDone(): boolean {
    return this.unfinished === 0;
  }

  /** The first step that runs the request: returns true the first time (for prompt-token counts). */
  markScheduled(now: number): boolean {
    if (this.firstScheduled !== null) return false;
    this.firstScheduled = now;
    return true;
  }

  /**
   * Streams the token just appended to `seq`. Returns whether the sequence is now finished (by
   * the token rules in `finish`, or by a stop string).
   */
  emitToken(seq: Sequence, token: number, logprob: TokenLogprob | null, finish: TokenFinish | null, step: number, now: number): boolean {
    this.noteTokenTime(step, now);
    const { text, stop } = this.texts[seq.index].add(token, finish?.stopTerminated ?? false, finish !== null);
    let reason: FinishReason | null = finish?.reason ?? null;
    let stopReason: string | number | null = finish?.stopReason ?? null;
    if (stop !== null) {
      reason = 'stop';
      stopReason = stop;
    }
    const chunk: EngineChunk = {
      index: seq.index,
      text,
      tokenIds: [token],
      logprobs: logprob ? [logprob] : null,
      finishReason: reason,
      stopReason,
      usage: null,
    };
    if (reason !== null) this.finishOutput(seq.index, reason, chunk);
    this.stream.push(chunk);
    return reason !== null;
  }

  /** Ends every unfinished output with finishReason 'abort'. */
  abort(): void {
    for (let i = 0; i < this.finishReasons.length; i++) {
      if (this.finishReasons[i] !== null) continue;
      const chunk: EngineChunk = { index: i, text: '', tokenIds: [], logprobs: null, finishReason: 'abort', stopReason: null, usage: null };
      this.finishOutput(i, 'abort', chunk);
      this.stream.push(chunk);
    }
  }

  /** Ends the caller's stream; with an error, its next() throws it. */
  close(error: Error | null): FinishedRequest {
    this.detach();
    const reasons = this.finishReasons.map((r) => r ?? 'abort');
    this.unfinished = 0;
    if (error) this.stream.fail(error);
    else this.stream.end();
    return {
      requestId: this.requestId,
      promptTokens: this.prompt.length,
      completionTokens: this.completionTokens(),
      cachedPromptTokens: this.seqs[0]?.numCachedPromptTokens ?? 0,
      finishReasons: reasons,
      numPreemptions: this.seqs.reduce((n, s) => n + s.numPreemptions, 0),
      timings: this.timings(),
      error,
    };
  }

  timings(): RequestTimings {
    const now = performance.now();
    const sec = (ms: number) => ms / 1000;
    return {
      arrivalTime: this.arrivalWall,
      queueTime: sec((this.firstScheduled ?? now) - this.arrival),
      timeToFirstToken: this.firstToken === null ? null : sec(this.firstToken - this.arrival),
      interTokenLatencies: this.interTokenLatencies.map(sec),
      e2eLatency: this.unfinished === 0 ? sec(now - this.arrival) : null,
    };
  }

  private completionTokens(): number {
    return this.seqs.reduce((n, s) => n + s.outputTokenIds.length, 0);
  }

  private finishOutput(index: number, reason: FinishReason, chunk: EngineChunk): void {
    this.finishReasons[index] = reason;
    if (--this.unfinished === 0) {
      chunk.usage = {
        promptTokens: this.prompt.length,
        completionTokens: this.completionTokens(),
        cachedPromptTokens: this.seqs[0]?.numCachedPromptTokens ?? 0,
      };
    }
  }

  /** One latency per step that gave the request tokens, however many of its outputs got one. */
  private noteTokenTime(step: number, now: number): void {
    if (step === this.lastTokenStep) return;
    this.lastTokenStep = step;
    if (this.firstToken === null) this.firstToken = now;
    else if (this.lastToken !== null) this.interTokenLatencies.push(now - this.lastToken);
    this.lastToken = now;
  }
}

/** The chosen token's logprob and the top `numTop` alternatives of one logit row. */
export function tokenLogprob(result: StepResult, row: number, numTop: number): TokenLogprob {
  const top: { token: number; logprob: number }[] = [];
  const width = result.maxTopN;
  for (let j = 0; j < Math.min(numTop, width); j++) {
    const token = result.topIds[row * width + j];
    if (token < 0) break;
    top.push({ token, logprob: result.topLogprobs[row * width + j] });
  }
  return { token: result.tokens[row], logprob: result.logprobs[row], top };
}
