// Stop strings over streamed text. A stop may straddle two deltas, so text that could be the
// start of a stop is held back until the next delta settles it. The first stop to complete
// wins (earliest end, then earliest start), which makes the result independent of how the
// text was chunked; the output ends before it (vLLM's default) or after it (includeStop).
import { InvalidRequestError } from '../errors.js';

export interface StopMatch {
  /** Text that is safe to emit now. */
  text: string;
  /** The stop string that ended the output, or null. */
  stop: string | null;
}

export interface StopStringOptions {
  /** Keep the stop string in the output (vLLM's include_stop_str_in_output). Default false. */
  includeStop?: boolean;
}

export class StopStringMatcher {
  private held = '';
  private matched: string | null = null;
  private readonly stops: string[];
  private readonly includeStop: boolean;
  private readonly maxStopLength: number;

  constructor(stops: readonly string[], options: StopStringOptions = {}) {
    if (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string' || s.length === 0))
      throw new InvalidRequestError('stop strings must be non-empty strings', 'stop');
    this.stops = [...new Set(stops)];
    this.includeStop = options.includeStop ?? false;
    this.maxStopLength = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** The stop string that matched, once one has. */
  get stop(): string | null {
    return this.matched;
  }

  /** Feeds a text delta. After a stop has matched, further text is dropped. */
  push(delta: string): StopMatch {
    if (this.matched !== null) return { text: '', stop: null };
    const buffer = this.held + delta;
    const match = this.firstMatch(buffer);
    if (match !== null) {
      this.matched = match.stop;
      this.held = '';
      const end = this.includeStop ? match.start + match.stop.length : match.start;
      return { text: buffer.slice(0, end), stop: match.stop };
    }
    const keep = this.partialSuffixLength(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stop: null };
  }

  /** At the end of generation without a stop: the text held back. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  private firstMatch(buffer: string): { start: number; stop: string } | null {
    let best: { start: number; stop: string } | null = null;
    for (const stop of this.stops) {
      const start = buffer.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      const bestEnd = best === null ? Infinity : best.start + best.stop.length;
      if (end < bestEnd || (end === bestEnd && start < best!.start)) best = { start, stop };
    }
    return best;
  }

  /** Length of the longest end of the buffer that a stop string begins with (shorter than that stop). */
  private partialSuffixLength(buffer: string): number {
    for (let k = Math.min(this.maxStopLength - 1, buffer.length); k > 0; k--) {
      const tail = buffer.slice(buffer.length - k);
      if (this.stops.some((s) => s.length > k && s.startsWith(tail))) return k;
    }
    return 0;
  }
}
