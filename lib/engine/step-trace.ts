// Optional per-step timing for profiling the engine (PAGEDINFER_STEP_TRACE=FILE): one JSON line
// per step with its shape (sequences, tokens, decode rows) and how long native code took from
// launch to result, and how long the engine took between steps. Off by default; no cost then.
import { appendFileSync, writeFileSync } from 'node:fs';

import type { StepPlan } from './scheduler.js';

export interface StepTraceRecord {
  step: number;
  seqs: number;
  tokens: number;
  /** Sequences that computed exactly one token (decode). */
  decodes: number;
  /** Milliseconds from launching the step to its result. */
  ms: number;
  /** Milliseconds the device had nothing to do before this step (result of the last to this launch). */
  gapMs: number;
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

  record(step: number, plan: StepPlan, launchedAt: number, doneAt: number): void {
    let decodes = 0;
    for (const s of plan.scheduled) if (s.numNewTokens === 1) decodes++;
    const rec: StepTraceRecord = {
      step,
      seqs: plan.scheduled.length,
      tokens: plan.numTokens,
      decodes,
      ms: doneAt - launchedAt,
      gapMs: this.lastDone ? Math.max(0, launchedAt - this.lastDone) : 0,
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
