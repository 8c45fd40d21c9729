// Prometheus metrics named like vLLM's (pagedinfer: instead of vllm:, the same suffixes and a
// model_name label), so dashboards built for vLLM read them with the prefix changed.
//
// Two sources: engine stats, read at scrape time (gauges, and token/prefix-cache counters that
// advance by the difference since the last scrape), and each finished request (outcome counter
// and latency histograms) through llm.onRequestFinished.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { FinishedRequest } from '../engine/types.js';
import type { LLM } from '../llm.js';

// vLLM's bucket boundaries, with a few shorter ones first: a small model on a fast machine
// answers within milliseconds, and those requests should not all land in the first bucket.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const REQUEST_BUCKETS = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

export interface MetricsOptions {
  /** Metric name prefix (default "pagedinfer:"). */
  prefix?: string;
  /** Node process metrics (memory, CPU, event loop lag) in the same registry (default true). */
  processMetrics?: boolean;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;
  private readonly success: Counter<'model_name' | 'finished_reason'>;
  private readonly ttft: Histogram<'model_name'>;
  private readonly itl: Histogram<'model_name'>;
  private readonly e2e: Histogram<'model_name'>;
  private readonly queue: Histogram<'model_name'>;

  constructor(
    private readonly llm: LLM,
    private readonly modelName: string,
    options: MetricsOptions = {},
  ) {
    const p = options.prefix ?? 'pagedinfer:';
    const labels = { model_name: modelName };
    const registers = [this.registry];
    const stats = () => llm.stats();

    new Gauge({
      name: `${p}num_requests_running`,
      help: 'Number of requests in model execution batches.',
      labelNames: ['model_name'],
      registers,
      collect() {
        this.set(labels, stats().numRunning);
      },
    });
    new Gauge({
      name: `${p}num_requests_waiting`,
      help: 'Number of requests waiting to be processed.',
      labelNames: ['model_name'],
      registers,
      collect() {
        this.set(labels, stats().numWaiting);
      },
    });
    new Gauge({
      name: `${p}kv_cache_usage_perc`,
      help: 'KV-cache usage. 1 means 100 percent usage.',
      labelNames: ['model_name'],
      registers,
      collect() {
        this.set(labels, stats().kvCacheUsage);
      },
    });
    // Counters that mirror cumulative engine totals. The `_total` suffix is written out: prom-client
    // does not add it (Python's client does, which is where vLLM's names get theirs).
    const mirrored: [string, string, (s: ReturnType<typeof stats>) => number][] = [
      ['prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', (s) => s.prefixCacheQueries],
      ['prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', (s) => s.prefixCacheHits],
      ['prompt_tokens_total', 'Number of prefill tokens processed.', (s) => s.promptTokens],
      ['generation_tokens_total', 'Number of generation tokens processed.', (s) => s.generationTokens],
      ['num_preemptions_total', 'Cumulative number of preemptions from the engine.', (s) => s.numPreemptions],
    ];
    for (const [name, help, read] of mirrored) {
      let seen = read(stats());
      const counter = new Counter({
        name: `${p}${name}`,
        help,
        labelNames: ['model_name'],
        registers,
        collect() {
          const now = read(stats());
          if (now > seen) this.inc(labels, now - seen);
          seen = now;
        },
      });
      counter.inc(labels, 0);
    }

    this.success = new Counter({
      name: `${p}request_success_total`,
      help: 'Count of successfully processed requests (one per output sequence, as vLLM counts n > 1).',
      labelNames: ['model_name', 'finished_reason'],
      registers,
    });
    for (const reason of ['stop', 'length', 'abort']) this.success.inc({ ...labels, finished_reason: reason }, 0);
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name: `${p}${name}`, help, labelNames: ['model_name'], buckets, registers });
    this.ttft = histogram('time_to_first_token_seconds', 'Histogram of time to first token in seconds.', TTFT_BUCKETS);
    this.itl = histogram('inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', ITL_BUCKETS);
    this.e2e = histogram('e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', REQUEST_BUCKETS);
    this.queue = histogram('request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', REQUEST_BUCKETS);
    // Series exist from the start (all zero), as vLLM's do, so dashboards and rate() see them.
    for (const h of [this.ttft, this.itl, this.e2e, this.queue]) h.zero(labels);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.unsubscribe = llm.onRequestFinished((r) => this.requestFinished(r));
  }

  private requestFinished(r: FinishedRequest): void {
    const labels = { model_name: this.modelName };
    // A request that failed (a native step error) is not a success of any kind.
    if (r.error === null) for (const reason of r.finishReasons) this.success.inc({ ...labels, finished_reason: reason });
    const t = r.timings;
    this.queue.observe(labels, t.queueTime);
    if (t.timeToFirstToken !== null) this.ttft.observe(labels, t.timeToFirstToken);
    for (const itl of t.interTokenLatencies) this.itl.observe(labels, itl);
    if (t.e2eLatency !== null) this.e2e.observe(labels, t.e2eLatency);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** Stops listening to the engine. */
  close(): void {
    this.unsubscribe();
  }
}
