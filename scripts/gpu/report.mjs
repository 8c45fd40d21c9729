#!/usr/bin/env node
// One table from the JSON results of scripts/gpu/bench-8b.sh: pagedinfer beside the peers and its
// own roofline, with the ratios the benchmarks issue targets.
//   node scripts/gpu/report.mjs OUT
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] ?? '/tmp/out';
const read = (f) => (existsSync(path.join(dir, f)) ? JSON.parse(readFileSync(path.join(dir, f), 'utf8')) : null);
const pi = {
  latency: read('pi-latency.json'),
  throughput: read('pi-throughput.json'),
  prefill: read('pi-prefill.json'),
  unloaded: read('pi-serving-unloaded.json'),
  loaded: read('pi-serving-80.json'),
  cold: read('pi-cold.json'),
};
const hf = read('hf.json');
const lcBench = read('llamacpp-bench.json');
let lcBatched = [];
if (existsSync(path.join(dir, 'llamacpp-batched.log')))
  lcBatched = readFileSync(path.join(dir, 'llamacpp-batched.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{"n_kv_max"'))
    .map((l) => JSON.parse(l));

const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '—' : Number(x).toFixed(d));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '—');
const rows = [];

// W1 throughput: output tokens/s over the whole workload (prefill included).
const w1 = pi.throughput?.result.outputTokensPerSecond;
const w1Roof = pi.throughput?.roofline.outputTokensPerSecond;
const lc128 = lcBatched.find((r) => r.pl === 128);
const lcW1 = lc128 ? (lc128.pl * lc128.tg) / lc128.t : null;
rows.push(['W1 output tok/s (512 x 512 in / 128 out)', fmt(w1), fmt(lcW1), fmt(hf?.output_tokens_per_second), fmt(w1Roof),
  `${w1 && w1Roof ? ((100 * w1) / w1Roof).toFixed(1) : '—'}% of roofline (target 80%); ${ratio(w1, lcW1)} llama.cpp (target 1.9x); ${ratio(w1, hf?.output_tokens_per_second)} transformers (target 8x)`]);

// Single-request decode.
const decode = pi.latency?.decodeTokensPerSecond;
const decodeRoof = pi.latency?.rooflineDecode;
const lcTg = lcBench?.find((r) => r.n_gen > 0 && r.n_prompt === 0)?.avg_ts;
rows.push(['single-request decode tok/s', fmt(decode), fmt(lcTg), '—', fmt(decodeRoof),
  `${decode && decodeRoof ? ((100 * decode) / decodeRoof).toFixed(1) : '—'}% of weight-bandwidth roofline (target 95%); ${ratio(decode, lcTg)} llama.cpp`]);

// Prefill of 64 x 512: achieved FLOP rate over the measured GEMM rate.
const pre = pi.prefill;
const preRate = pre ? pre.roofline.prefillFlops / pre.result.seconds : null;
const gemm = pre?.ceilings.matmulFlopsPerSecond;
const flopsPerToken = pre ? pre.roofline.prefillFlops / (pre.workload.numPrompts * pre.workload.inputLen) : null;
const lcPp = lcBench?.find((r) => r.n_prompt > 0 && r.n_gen === 0)?.avg_ts;
rows.push(['prefill TFLOP/s (64 x 512)', fmt(preRate && preRate / 1e12), fmt(lcPp && flopsPerToken && (lcPp * flopsPerToken) / 1e12), '—', fmt(gemm && gemm / 1e12),
  `${preRate && gemm ? ((100 * preRate) / gemm).toFixed(1) : '—'}% of bf16 GEMM (target 70%); llama.cpp ${lcPp && gemm ? ((100 * lcPp * flopsPerToken) / gemm).toFixed(1) : '—'}%`]);

// Serving: ITL p99 at 80% of the saturating rate over the unloaded ITL.
const itlLoaded = pi.loaded?.itl.p99, itlUnloaded = pi.unloaded?.itl.p99;
rows.push(['serving ITL p99 at 80% load (ms)', fmt(itlLoaded && itlLoaded * 1000, 2), '—', '—', fmt(itlUnloaded && itlUnloaded * 1000, 2),
  `${ratio(itlLoaded, itlUnloaded)} the unloaded ITL p99 (target <= 1.5x); TTFT p99 ${fmt(pi.loaded && pi.loaded.ttft.p99 * 1000, 0)} ms at ${pi.loaded?.workload.requestRate} req/s`]);

rows.push(['cold start to first token (s)', fmt(pi.cold?.seconds, 2), '—', fmt(hf?.load_seconds, 1), '5.00', 'target < 5 s (safetensors, page cache warm)']);

const header = ['', 'pagedinfer', 'llama.cpp', 'transformers', 'roofline / ceiling', 'ratios'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
const ceil = pi.throughput?.ceilings ?? pi.latency?.ceilings;
if (ceil) console.log(`\nceilings measured in the same run: copy ${(ceil.copyBytesPerSecond / 1e9).toFixed(0)} GB/s, ${ceil.matmulShape} ${(ceil.matmulFlopsPerSecond / 1e12).toFixed(0)} TFLOP/s`);
if (hf) console.log(`transformers ${hf.version} (torch ${hf.torch}) on ${hf.device}: ${hf.batches} batches of ${hf.batch}`);
if (lcBatched.length) console.log(`llama.cpp batched-bench: ${lcBatched.map((r) => `${r.pl} seqs ${fmt((r.pl * r.tg) / r.t)} output tok/s (${fmt(r.t, 2)} s)`).join('; ')}`);
