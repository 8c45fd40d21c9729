// Smoke tests of the benchmark commands on tiny models (no timing assertions): each runs, prints
// its table and writes JSON whose numbers are consistent with the workload.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { buildDist, CLI } from './helpers/dist.js';

const cli = CLI;
const dir = mkdtempSync(path.join(tmpdir(), 'pagedinfer-bench-'));

function bench(args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'bench', ...args], { encoding: 'utf8', env: { ...process.env, PAGEDINFER_BACKEND: 'cpu' } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('pagedinfer bench', () => {
  beforeAll(buildDist);

  it('throughput: dummy weights, table with the roofline, JSON', () => {
    const file = path.join(dir, 'throughput.json');
    const out = bench(['throughput', '--load-format', 'dummy', '--model', 'tiny-llama', '--dtype', 'F32', '--input-len', '32', '--output-len', '8', '--num-prompts', '6', '--output-json', file]);
    expect(out).toMatch(/fraction of roofline reached: [\d.]+%/);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    expect(j.result.numRequests).toBe(6);
    expect(j.result.outputTokensPerSecond).toBeCloseTo((6 * 8) / j.result.seconds, 3);
    expect(j.roofline.decodeSteps).toBe(7);
    expect(j.ceilings.copyBytesPerSecond).toBeGreaterThan(0);
  });

  it('latency: the built-in model, TTFT and decode rate, JSON', () => {
    const file = path.join(dir, 'latency.json');
    const out = bench(['latency', '--input-len', '16', '--output-len', '8', '--num-iters', '2', '--output-json', file]);
    expect(out).toMatch(/time to first token/);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    expect(j.runs).toHaveLength(2);
    expect(j.runs[0].outputLen).toBe(8);
    expect(j.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(j.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(j.peakRssBytes).toBeGreaterThan(j.weightBytes);
  });

  it('serving: starts pagedinfer serve and measures TTFT / TPOT / ITL from the stream', () => {
    const file = path.join(dir, 'serving.json');
    const out = bench(['serving', '--num-prompts', '12', '--input-len', '16', '--output-len', '8', '--request-rate', '40', '--goodput', 'ttft:60000', '--output-json', file]);
    expect(out).toMatch(/TTFT/);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    expect(j.completed).toBe(12);
    expect(j.failed).toBe(0);
    expect(j.goodput).toBeCloseTo(j.requestThroughput, 5);  // a 60 s objective: every request meets it
    expect(j.ttft.median).toBeGreaterThan(0);
    expect(j.itl.p99).toBeGreaterThanOrEqual(j.itl.median);
  });

  it('latency --cold: process start to first token', () => {
    const out = bench(['latency', '--cold', '--input-len', '8']);
    expect(out).toMatch(/cold start: process start to first token .* [\d.]+ s/);
    expect(out).toMatch(/model files [\d.]+ s, weights on the device [\d.]+ s \([\d.]+ GB, [\d.]+ GB\/s\), KV cache \+ warm-up [\d.]+ s/);
  });
});
