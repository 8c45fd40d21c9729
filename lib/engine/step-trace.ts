// Optional per-step timing for profiling the engine (PAGEDINFER_STEP_TRACE=FILE): one JSON line
// per step with its shape (sequences, tokens, decode rows), how long native code took from launch
// to result, and how long the device had nothing to do before it. With async scheduling a step is
// launched while the one before it still runs: it then waits behind it (waitMs) and has no gap.
// Off by default; no cost then.
import { appendFileSync, writeFileSync } from 'node:fs';

import type { StepPlan } from './scheduler.js';

export interface StepTraceRecord {
  step: number;
  seqs: number;
  tokens: number;
  /** Sequences that computed exactly one token (decode). */
  decodes: number;
  /** Milliseconds from launching the step to its result (waitMs included). */
  ms: number;
  /** Milliseconds from its launch to the previous step's result: time it queued behind that step. */
  waitMs: number;
  /** Milliseconds the device had nothing to do before this step (result of the last to this launch). */
  gapMs: number;
  /** Launched before the previous step's result, its inputs chained to that step's samples. */
  chained: boolean;
}

export class StepTrace {
  private lines: string[] = [];
  private lastDone = 0;

  private constructor(private readonly file: string) {
    writeFileSync(file, '');
  }

  static fromEnv(): StepTrace | null {
    const file = process.env.PAGEDINFER_STEP_TRACE;
    return file ? new StepTrace(file) : null;
  }

  /** Called in step order, when each step's result is taken. */
  record(step: number, plan: StepPlan, launchedAt: number, doneAt: number, chained: boolean): void {
    let decodes = 0;
    for (const s of plan.scheduled) if (s.numNewTokens === 1) decodes++;
    const rec: StepTraceRecord = {
      step,
      seqs: plan.scheduled.length,
      tokens: plan.numTokens,
      decodes,
      ms: doneAt - launchedAt,
      waitMs: this.lastDone ? Math.max(0, this.lastDone - launchedAt) : 0,
      gapMs: this.lastDone ? Math.max(0, launchedAt - this.lastDone) : 0,
      chained,
    };
    this.lastDone = doneAt;
    this.lines.push(JSON.stringify(rec));
    if (this.lines.length >= 256) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    appendFileSync(this.file, `${this.lines.join('\n')}\n`);
    this.lines = [];
  }
}
