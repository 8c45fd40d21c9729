// A load generator for `pagedinfer serve` (or any OpenAI-compatible server), like vLLM's
// `bench serve`: random token-id prompts sent to /v1/completions with Poisson arrivals (or all
// at once) under a concurrency cap, streamed; TTFT, TPOT and inter-token latencies measured from
// the chunks as they arrive.
import { randomPrompts } from './engine-throughput.js';

export interface ServingOptions {
  baseUrl: string;
  model: string;
  apiKey?: string;
  numPrompts: number;
  inputLen: number;
  outputLen: number;
  vocabSize: number;
  /** Requests per second of the Poisson process; Infinity sends all at once. */
  requestRate: number;
  maxConcurrency: number;
  seed?: number;
}

export interface RequestMetrics {
  ok: boolean;
  error?: string;
  timeToFirstToken: number;
  /** Seconds between consecutive chunks after the first. */
  interTokenLatencies: number[];
  e2eLatency: number;
  outputTokens: number;
}

export interface Distribution {
  mean: number;
  median: number;
  p99: number;
}

export interface ServingResult {
  seconds: number;
  completed: number;
  failed: number;
  requestThroughput: number;
  outputTokensPerSecond: number;
  ttft: Distribution;
  tpot: Distribution;
  itl: Distribution;
  e2e: Distribution;
  requests: RequestMetrics[];
}

export function distribution(values: number[]): Distribution {
  if (values.length === 0) return { mean: NaN, median: NaN, p99: NaN };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, median: at(0.5), p99: at(0.99) };
}

/** Exponential gaps of a Poisson process, reproducible from the seed. */
function arrivalGaps(count: number, rate: number, seed: number): number[] {
  let s = (seed ^ 0x85ebca6b) >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return Array.from({ length: count }, () => (Number.isFinite(rate) ? -Math.log(uniform()) / rate : 0));
}

async function streamOne(o: ServingOptions, prompt: number[]): Promise<RequestMetrics> {
  const start = performance.now();
  const times: number[] = [];
  let outputTokens = 0;
  try {
    const res = await fetch(`${o.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
      body: JSON.stringify({
        model: o.model,
        prompt,
        max_tokens: o.outputLen,
        ignore_eos: true,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(bytes, { stream: true });
      let end;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = event.startsWith('data: ') ? event.slice(6) : '';
        if (data === '' || data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) outputTokens = chunk.usage.completion_tokens;
        if (chunk.choices?.length) times.push(performance.now());
      }
    }
    if (outputTokens !== o.outputLen) throw new Error(`expected ${o.outputLen} output tokens, got ${outputTokens}`);
    const itl = times.slice(1).map((t, i) => (t - times[i]) / 1000);
    return { ok: true, timeToFirstToken: (times[0] - start) / 1000, interTokenLatencies: itl, e2eLatency: (performance.now() - start) / 1000, outputTokens };
  } catch (e) {
    return { ok: false, error: (e as Error).message, timeToFirstToken: NaN, interTokenLatencies: [], e2eLatency: NaN, outputTokens };
  }
}

export async function runServingBenchmark(o: ServingOptions): Promise<ServingResult> {
  const prompts = randomPrompts(o.numPrompts, o.inputLen, o.vocabSize, o.seed ?? 0);
  const gaps = arrivalGaps(o.numPrompts, o.requestRate, o.seed ?? 0);
  const requests: Promise<RequestMetrics>[] = [];
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  const start = performance.now();
  let next = start;
  for (let i = 0; i < o.numPrompts; i++) {
    next += gaps[i] * 1000;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (inFlight >= o.maxConcurrency) await new Promise<void>((r) => waiters.push(r));
    inFlight++;
    requests.push(
      streamOne(o, prompts[i]).finally(() => {
        inFlight--;
        waiters.shift()?.();
      }),
    );
  }
  const results = await Promise.all(requests);
  const seconds = (performance.now() - start) / 1000;
  const ok = results.filter((r) => r.ok);
  return {
    seconds,
    completed: ok.length,
    failed: results.length - ok.length,
    requestThroughput: ok.length / seconds,
    outputTokensPerSecond: ok.reduce((n, r) => n + r.outputTokens, 0) / seconds,
    ttft: distribution(ok.map((r) => r.timeToFirstToken)),
    tpot: distribution(ok.filter((r) => r.outputTokens > 1).map((r) => (r.e2eLatency - r.timeToFirstToken) / (r.outputTokens - 1))),
    itl: distribution(ok.flatMap((r) => r.interTokenLatencies)),
    e2e: distribution(ok.map((r) => r.e2eLatency)),
    requests: results,
  };
}

/** Requests that met both service-level objectives, per second (vLLM's goodput). */
export function goodput(result: ServingResult, slo: { ttftMs?: number; tpotMs?: number }): number {
  const good = result.requests.filter((r) => {
    if (!r.ok) return false;
    if (slo.ttftMs !== undefined && r.timeToFirstToken * 1000 > slo.ttftMs) return false;
    const tpot = r.outputTokens > 1 ? (r.e2eLatency - r.timeToFirstToken) / (r.outputTokens - 1) : 0;
    if (slo.tpotMs !== undefined && tpot * 1000 > slo.tpotMs) return false;
    return true;
  });
  return good.length / result.seconds;
}
