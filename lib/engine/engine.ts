// The Engine: requests in, streamed chunks out. One loop drives the model; while native code runs
// step N (off the JS thread), the loop already plans and builds step N+1, leaving placeholders for
// the tokens step N is sampling. With async scheduling it launches N+1 at once, its placeholders
// chained to N's logit rows (native code fills them in stream order), so the device never waits
// for this thread; otherwise N+1 launches once N's tokens are back. A failed step ends the
// requests in it with a clear error and the loop goes on with everyone else.
import { AbortError, InvalidRequestError, NativeError, CapacityError } from '../errors.js';
import type { SamplingParams } from '../sampling/params.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ModelConfig } from '../model/types.js';
import { resolveEngineOptions, resolveStepLimits, type ResolvedEngineOptions } from './engine-options.js';
import { KvCache } from './kv-cache.js';
import { RequestOutput, tokenFinish, tokenLogprob } from './request-output.js';
import { outputSeeds } from './seeds.js';
import { Scheduler } from './scheduler.js';
import { createSequence, forkSequence, type Sequence } from './sequence.js';
import type { StepResult } from './step-batch.js';
import { StepBuilder, type BuiltStep } from './step-builder.js';
import { checkRequest } from './request-check.js';
import { StepTrace } from './step-trace.js';
import type {
  EngineChunk,
  EngineOptions,
  EngineStats,
  FinishedRequest,
  GenerateInput,
  GenerateOptions,
  ModelRunner,
} from './types.js';

type StepOutcome = { ok: true; result: StepResult } | { ok: false; error: unknown };

interface InFlight {
  step: BuiltStep;
  id: number;
  outcome: Promise<StepOutcome>;
  launchedAt: number;
  /** Launched while the step before it ran, its placeholders chained to that step's rows. */
  chained: boolean;
}

export class Engine {
  readonly config: ModelConfig;
  readonly options: Readonly<ResolvedEngineOptions>;
  private readonly runner: ModelRunner;
  private readonly tokenizer: Tokenizer | null;
  private readonly kv: KvCache;
  private readonly scheduler: Scheduler;
  private readonly builder: StepBuilder;
  private readonly chaining: boolean;
  private readonly requests = new Map<string, RequestOutput>();
  private readonly listeners = new Set<(r: FinishedRequest) => void>();
  private nextSeqId = 0;
  private nextRequestNumber = 0;
  private numSteps = 0;
  private readonly trace = StepTrace.fromEnv();
  private promptTokens = 0;
  private generationTokens = 0;
  private computedTokens = 0;
  private closing = false;
  /** Set when the loop itself broke (a bug, not a request's fault): every request fails with it. */
  private fatal: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly loop: Promise<void>;

  private constructor(runner: ModelRunner, tokenizer: Tokenizer | null, options: ResolvedEngineOptions) {
    this.runner = runner;
    this.tokenizer = tokenizer;
    this.config = runner.config;
    this.options = options;
    this.kv = new KvCache(options.numBlocks, options.blockSize, options.enablePrefixCaching);
    this.scheduler = new Scheduler(this.kv, {
      maxNumSeqs: options.maxNumSeqs,
      maxNumBatchedTokens: options.maxNumBatchedTokens,
      maxPrefillTokensWhileDecoding: options.maxPrefillTokensWhileDecoding,
      maxModelLen: options.maxModelLen,
      policy: options.schedulingPolicy,
    });
    this.builder = new StepBuilder(options.blockSize);
    this.chaining = options.asyncScheduling && runner.supportsChainedTokens === true;
    this.loop = this.run().catch((e: unknown) => this.die(e));
  }

  /** Sizes the KV cache from the memory budget, allocates it, and starts the step loop. */
  static async create(runner: ModelRunner, tokenizer: Tokenizer | null, options: EngineOptions = {}): Promise<Engine> {
    // The largest step's activations first, so the KV cache is sized from what is left after them.
    const limits = resolveStepLimits(runner, options);
    runner.reserveWorkspace?.(limits.maxNumBatchedTokens, limits.maxNumSeqs);
    const resolved = resolveEngineOptions(runner, options);
    runner.initKvCache(resolved.numBlocks, resolved.blockSize);
    await runner.warmup?.(resolved.maxNumBatchedTokens, resolved.maxNumSeqs);
    return new Engine(runner, tokenizer, resolved);
  }

  /**
   * Queues a request and streams its chunks. Bad requests throw here, before anything runs
   * (InvalidRequestError, CapacityError, AbortError for an aborted signal). Aborting the signal
   * or leaving the `for await` early ends the stream with finishReason 'abort' and frees its blocks.
   */
  generate(input: GenerateInput, params: SamplingParams, opts: GenerateOptions = {}): AsyncIterableIterator<EngineChunk> {
    if (this.fatal) throw this.fatal;
    if (this.closing) throw new AbortError('the engine was shut down: create a new one');
    if (opts.signal?.aborted) throw new AbortError();
    const prompt = checkRequest(input, params, this.config.vocabSize, this.options, this.tokenizer !== null);
    const requestId = opts.requestId ?? `req-${++this.nextRequestNumber}`;
    if (this.requests.has(requestId)) throw new InvalidRequestError(`request id ${requestId} is already running`, 'requestId');
    const priority = opts.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) throw new InvalidRequestError('priority must be a finite number', 'priority');
    if (priority !== 0 && this.options.schedulingPolicy !== 'priority')
      throw new InvalidRequestError(`priority ${priority} given, but the engine schedules 'fcfs': create it with schedulingPolicy 'priority'`, 'priority');

    const req = new RequestOutput({ requestId, prompt, params, tokenizer: this.tokenizer, onCancel: () => this.abort(requestId) });
    const seeds = outputSeeds(params.seed, params.n);
    const root = createSequence({
      seqId: this.nextSeqId++,
      requestId,
      index: 0,
      promptTokenIds: prompt,
      params,
      seed: seeds[0],
      forkSeeds: params.n > 1 ? seeds : [],
      priority,
      arrivalOrder: this.nextSeqId,
      forkWidth: params.n,
    });
    req.seqs.push(root);
    this.requests.set(requestId, req);
    this.scheduler.add(root);
    const signal = opts.signal;
    if (signal) {
      const onAbort = () => this.abort(requestId);
      signal.addEventListener('abort', onAbort, { once: true });
      req.detach = () => signal.removeEventListener('abort', onAbort);
    }
    this.wakeLoop();
    return req.stream;
  }

  /** Ends a request now (finishReason 'abort'); its blocks are freed once no step in flight uses them. */
  abort(requestId: string): boolean {
    const req = this.requests.get(requestId);
    if (!req) return false;
    for (const seq of req.seqs) this.scheduler.finish(seq);
    req.abort();
    this.closeRequest(req, null);
    this.wakeLoop();
    return true;
  }

  /** Called with each request's outcome, usage and timings when it ends. Returns an unsubscribe function. */
  onRequestFinished(listener: (r: FinishedRequest) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): EngineStats {
    const pool = this.kv.pool;
    return {
      numRunning: this.scheduler.running.length,
      numWaiting: this.scheduler.waiting.length,
      kvCacheUsage: this.kv.usage,
      numBlocks: pool.numBlocks,
      numFreeBlocks: pool.numAllocatable,
      prefixCacheQueries: this.kv.counters.prefixCacheQueries,
      prefixCacheHits: this.kv.counters.prefixCacheHits,
      numPreemptions: this.scheduler.numPreemptions,
      promptTokens: this.promptTokens,
      generationTokens: this.generationTokens,
      computedTokens: this.computedTokens,
      numSteps: this.numSteps,
    };
  }

  /** Aborts every request and waits for the step in flight; the runner is the caller's to close. */
  async shutdown(): Promise<void> {
    this.closing = true;
    for (const id of [...this.requests.keys()]) this.abort(id);
    this.wakeLoop();
    await this.loop;
  }

  private async run(): Promise<void> {
    // The step running, and at most one more: the next, chained to it.
    let inFlight: InFlight | null = null;
    let emptyPlans = 0;
    for (;;) {
      // Plan step N+1 while step N runs (N+2 only once N is done: the builder has two buffer sets).
      let next = this.closing ? null : this.prepare();
      let chained: InFlight | null = null;
      if (next && inFlight && this.chaining && this.builder.chain(next, inFlight.step)) {
        chained = this.launch(next, true);
        next = null;
      }
      if (inFlight) {
        const outcome = await inFlight.outcome;
        const ok = this.complete(inFlight, outcome);
        emptyPlans = 0;
        if (chained && !ok) {
          // Its tokens came from a failed step: let it finish, then its sequences recompute.
          const dropped = chained;
          await dropped.outcome;
          this.trace?.record(dropped.id, dropped.step.plan, dropped.launchedAt, performance.now(), true);
          this.drop(dropped.step);
          chained = null;
        } else if (chained && outcome.ok) {
          this.rewindResampled(outcome.result, chained.step);
        } else if (next && (!ok || this.closing || next.plan.scheduled.every((s) => s.seq.status === 'finished'))) {
          // Dropped when its base failed, when shutting down, or when every sequence in it ended.
          this.drop(next);
          next = null;
        } else if (next) {
          this.builder.resolvePlaceholders(next);
        }
        inFlight = chained;
      } else if (!next) {
        emptyPlans++;
      }
      if (next) {
        inFlight = this.launch(next, false);
        continue;
      }
      if (inFlight) continue;
      if (this.closing) {
        this.trace?.flush();
        return;
      }
      if (!this.scheduler.hasWork) {
        emptyPlans = 0;
        this.trace?.flush();
        await new Promise<void>((resolve) => (this.wake = resolve));
      } else if (emptyPlans >= 2) {
        // Requests wait, nothing runs and nothing can be planned (admission should make this
        // impossible): fail the head of the queue rather than spin or hang.
        this.failUnschedulable();
      }
    }
  }

  private prepare(): BuiltStep | null {
    const plan = this.scheduler.schedule();
    return plan ? this.builder.build(plan) : null;
  }

  private launch(step: BuiltStep, chained: boolean): InFlight {
    const id = this.numSteps++;
    this.computedTokens += step.plan.numTokens;
    const now = performance.now();
    for (const s of step.plan.scheduled) {
      const req = this.requests.get(s.seq.requestId);
      if (req?.markScheduled(now)) this.promptTokens += req.prompt.length;
    }
    let promise: Promise<StepResult>;
    try {
      promise = this.runner.step(step.batch);
    } catch (e) {
      promise = Promise.reject(e);
    }
    const outcome = promise.then(
      (result): StepOutcome => ({ ok: true, result }),
      (error): StepOutcome => ({ ok: false, error }),
    );
    return { step, id, outcome, launchedAt: now, chained };
  }

  /**
   * Step N's host sampler redid some rows after the chained step N+1 had read their device ids (a
   * placeholder token, not the real one): the sequences that read one computed N+1 from a wrong
   * token. Their N+1 results are ignored and they recompute that position with the token N gave.
   */
  private rewindResampled(result: StepResult, chained: BuiltStep): void {
    const rows = result.resampledRows;
    if (!rows || rows.length === 0) return;
    const redone = new Set(rows);
    for (const { seq, prevRow } of chained.chainedFrom) {
      if (!redone.has(prevRow)) continue;
      const s = chained.plan.scheduled.find((e) => e.seq === seq);
      if (s) this.scheduler.rewind(s);
    }
  }

  /** Applies a finished step: tokens to their sequences, forks, finishes. False when it failed. */
  private complete(inFlight: InFlight, outcome: StepOutcome): boolean {
    const { plan, batch } = inFlight.step;
    this.trace?.record(inFlight.id, plan, inFlight.launchedAt, performance.now(), inFlight.chained);
    const numRows = batch.logitRows.length;
    let failure: unknown = outcome.ok ? null : outcome.error;
    if (outcome.ok && (outcome.result.tokens.length !== numRows || outcome.result.logprobs.length !== numRows))
      failure = new Error(`the step returned ${outcome.result.tokens.length} tokens for ${numRows} rows`);
    for (const s of plan.scheduled) this.scheduler.stepDone(s, failure === null);
    if (failure !== null || !outcome.ok) {
      const cause = failure as Error;
      const error = new NativeError(
        `a model step failed (${cause?.message ?? String(cause)}); the ${plan.scheduled.length} sequences in it were ended, the engine goes on`,
        { cause },
      );
      for (const s of plan.scheduled) {
        const req = this.requests.get(s.seq.requestId);
        if (req) this.failRequest(req, error);
      }
      return false;
    }
    const result = outcome.result;
    const now = performance.now();
    // Rows come in plan order, numSamples of them per sequence.
    let row = 0;
    for (const s of plan.scheduled) {
      const first = row;
      row += s.numSamples;
      const req = this.requests.get(s.seq.requestId);
      if (s.numSamples === 0 || s.discarded || !req || s.seq.status === 'finished') continue;
      try {
        const seqs = s.numSamples > 1 ? [s.seq, ...this.fork(req, s.seq)] : [s.seq];
        for (let k = 0; k < seqs.length; k++) {
          if (seqs[k].status !== 'finished') this.appendToken(req, seqs[k], first + k, result, inFlight.id, now);
        }
      } catch (e) {
        // Detokenizing or matching one request's output failed: that request ends, no other.
        this.failRequest(req, e instanceof Error ? e : new Error(String(e)));
      }
    }
    return true;
  }

  private fork(req: RequestOutput, root: Sequence): Sequence[] {
    const children: Sequence[] = [];
    for (let k = 1; k < root.forkSeeds.length; k++) {
      const child = forkSequence(root, this.nextSeqId++, k, root.forkSeeds[k]);
      req.seqs.push(child);
      children.push(child);
    }
    this.scheduler.fork(root, children);
    return children;
  }

  private appendToken(req: RequestOutput, seq: Sequence, row: number, result: StepResult, step: number, now: number): void {
    const token = result.tokens[row];
    if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
      this.failRequest(req, new NativeError(`the sampler returned token ${token}, outside the vocabulary of ${this.config.vocabSize}`));
      return;
    }
    seq.outputTokenIds.push(token);
    this.generationTokens++;
    const logprob = req.params.logprobs === null ? null : tokenLogprob(result, row, req.params.logprobs);
    const finish = tokenFinish(seq, token, this.config.eosTokenIds, this.options.maxModelLen);
    if (req.emitToken(seq, token, logprob, finish, step, now)) {
      this.scheduler.finish(seq);
      if (req.isDone) this.closeRequest(req, null);
    }
  }

  /** A step planned but never run: its sequences lose what it planned and recompute. */
  private drop(step: BuiltStep): void {
    for (const s of step.plan.scheduled) {
      this.scheduler.stepDone(s, false);
      this.scheduler.reset(s.seq);
    }
  }

  /** Nothing can run and nothing is in flight, yet requests wait: should not happen; never hang. */
  private failUnschedulable(): void {
    const seq = this.scheduler.waiting[0] ?? this.scheduler.running[0];
    const req = seq && this.requests.get(seq.requestId);
    if (req) this.failRequest(req, new CapacityError(`request ${req.requestId} could not be scheduled with ${this.options.numBlocks} KV blocks`));
    else if (seq) this.scheduler.finish(seq);
  }

  private failRequest(req: RequestOutput, error: Error): void {
    if (!this.requests.has(req.requestId)) return;
    for (const seq of req.seqs) this.scheduler.finish(seq);
    this.closeRequest(req, error);
  }

  private closeRequest(req: RequestOutput, error: Error | null): void {
    this.requests.delete(req.requestId);
    const finished = req.close(error);
    for (const listener of this.listeners) {
      try {
        listener(finished);
      } catch {
        // A metrics listener must not take the engine down.
      }
    }
  }

  /** The step loop threw: fail every request with the cause and refuse new ones. */
  private die(e: unknown): void {
    this.fatal = new NativeError(`the engine's step loop failed and stopped: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    this.closing = true;
    for (const req of [...this.requests.values()]) this.closeRequest(req, this.fatal);
  }

  private wakeLoop(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
