#!/usr/bin/env node
// Prefill and decode speed per weight type on the CPU: pagedinfer beside node-llama-cpp
// (llama.cpp) on the same GGUF files, in the same run, on this machine. Runs the compiled library:
//   npm run build:ts && node scripts/bench-cpu-gguf.mjs [--types F16,Q8_0,Q4_0,Q4_K_M]
//     [--shape bench-200m] [--prompt 128] [--decode 32] [--repeat 3] [--threads 1,2] [--fixtures]
//     [--baseline DIR] [--json FILE]
// The models are llama-shaped with random weights (scripts/make-gguf.mjs, ~212M parameters by
// default), written once into .bench-models/: speed does not depend on the values. --fixtures
// adds the tiny ../shared GGUF fixtures, where per-token overheads dominate. --baseline DIR also
// runs another build of pagedinfer (a checkout at DIR with its addon and dist/ built), for a
// before/after of a kernel change in the same run. node-llama-cpp is
// installed on first use into .peer/ (not a dependency of the package: its optional CUDA and
// Vulkan binaries would burden every install).
//
// Both engines: one sequence, greedy, prompts of random token ids (a new one per repeat, so
// pagedinfer's prefix cache never hits). Prefill = prompt tokens / time to the first token;
// decode = the later tokens / their time. Each engine runs in its own process (nothing of the
// other loaded or spinning), once per thread count of --threads, and the table shows each
// engine's best thread count: llama.cpp's spin-waiting threads lose badly when they are as many
// as the cores (Node's own threads need one now and then), so one thread is often its best on
// two cores. Each engine keeps its defaults otherwise (llama.cpp: F16 KV cache, flash attention
// auto; pagedinfer: F32 KV cache). Each number is the median of --repeat runs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { loadGgufModelSpec } from '../dist/model/gguf-model.js';
import { writeLlamaGguf } from './make-gguf.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PEER_DIR = path.join(ROOT, '.peer');
const PEER = ['node-llama-cpp@3.22.1', '@node-llama-cpp/linux-x64@3.22.1'];

const { values } = parseArgs({
  options: {
    types: { type: 'string', default: 'F16,Q8_0,Q4_0,Q4_K_M' },
    shape: { type: 'string', default: 'bench-200m' },
    prompt: { type: 'string', default: '128' },
    decode: { type: 'string', default: '32' },
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string', default: [...new Set([1, os.cpus().length])].join(',') },
    child: { type: 'string' },
    fixtures: { type: 'boolean', default: false },
    json: { type: 'string' },
    baseline: { type: 'string' },
  },
});
const promptLen = Number(values.prompt), decodeLen = Number(values.decode), repeat = Number(values.repeat);
const threadCounts = values.threads.split(',').map(Number);

async function peer() {
  const entry = path.join(PEER_DIR, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) {
    console.log(`installing ${PEER.join(' ')} into ${PEER_DIR} ...`);
    mkdirSync(PEER_DIR, { recursive: true });
    if (!existsSync(path.join(PEER_DIR, 'package.json'))) writeFileSync(path.join(PEER_DIR, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--omit=optional', '--no-audit', '--no-fund', ...PEER], { cwd: PEER_DIR, stdio: 'inherit' });
  }
  const { getLlama } = await import(entry);
  return getLlama({ gpu: false, build: 'never', logLevel: 'error' });
}

function models() {
  const dir = path.join(ROOT, '.bench-models');
  mkdirSync(dir, { recursive: true });
  const list = values.types.split(',').map((type) => {
    const file = path.join(dir, `random-llama-${values.shape}-${type}.gguf`);
    if (!existsSync(file)) {
      console.log(`writing ${file} ...`);
      writeLlamaGguf(file, { shape: values.shape, type, seed: 1 });
    }
    return { name: `${values.shape} ${type}`, type, file };
  });
  if (values.fixtures) {
    const shared = path.resolve(ROOT, '..', 'shared', 'models', 'gguf');
    for (const f of readdirSync(shared).filter((f) => f.endsWith('.gguf')).sort())
      list.push({ name: f.replace(/\.gguf$/, ''), type: f.replace(/^.*-/, '').replace(/\.gguf$/, ''), file: path.join(shared, f) });
  }
  return list;
}

function prompts(vocab, seed) {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) % (vocab - 300)) + 259;  // plain tokens, no specials
  return [1, ...Array.from({ length: promptLen - 1 }, next)];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// CPU seconds of this process (all its threads): with other work on the machine, wall time
// depends on who else runs, CPU time much less.
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// One greedy generation: returns { ttft, decodeTime, ids } in seconds.
async function runOurs(llm, prompt) {
  const t0 = performance.now(), c0 = cpuNow();
  let tFirst = 0, tLast = 0, cFirst = 0, cLast = 0;
  const ids = [];
  for await (const chunk of llm.generate({ promptTokenIds: prompt }, { maxTokens: decodeLen, temperature: 0, ignoreEos: true })) {
    if (chunk.tokenIds.length === 0) continue;
    const now = performance.now(), cpu = cpuNow();
    if (ids.length === 0) [tFirst, cFirst] = [now, cpu];
    [tLast, cLast] = [now, cpu];
    ids.push(...chunk.tokenIds);
  }
  return { ttft: (tFirst - t0) / 1e3, decodeTime: (tLast - tFirst) / 1e3, ttftCpu: cFirst - c0, decodeCpu: cLast - cFirst, decoded: ids.length - 1, ids };
}

async function runPeer(ctx, prompt) {
  const seq = ctx.getSequence();
  try {
    const t0 = performance.now(), c0 = cpuNow();
    let tFirst = 0, tLast = 0, cFirst = 0, cLast = 0;
    const ids = [];
    const it = seq.evaluate(prompt, { temperature: 0 });
    while (ids.length < decodeLen) {
      const r = await it.next();
      if (r.done) break;
      const now = performance.now(), cpu = cpuNow();
      if (ids.length === 0) [tFirst, cFirst] = [now, cpu];
      [tLast, cLast] = [now, cpu];
      ids.push(r.value);
    }
    await it.return();
    return { ttft: (tFirst - t0) / 1e3, decodeTime: (tLast - tFirst) / 1e3, ttftCpu: cFirst - c0, decodeCpu: cLast - cFirst, decoded: ids.length - 1, ids };
  } finally {
    seq.dispose();
  }
}

function summarize(runs) {
  return {
    prefillTokS: median(runs.map((r) => promptLen / r.ttft)),
    decodeTokS: median(runs.map((r) => r.decoded / r.decodeTime)),
    prefillTokCpuS: median(runs.map((r) => promptLen / r.ttftCpu)),
    decodeTokCpuS: median(runs.map((r) => r.decoded / r.decodeCpu)),
  };
}

// One engine, one file, one thread count, in this process (spawned by the parent below).
async function measure(engine, file, threads) {
  if (engine.startsWith('pagedinfer')) {
    const root = engine === 'pagedinfer' ? ROOT : path.resolve(values.baseline);
    const { loadModel } = await import(path.join(root, 'dist', 'load.js'));
    let t = performance.now();
    const llm = await loadModel(file, { backend: 'cpu', threads, maxModelLen: promptLen + decodeLen + 16, kvCacheBytes: 512 * 2 ** 20 });
    const loadS = (performance.now() - t) / 1e3;
    const vocab = llm.config.vocabSize;
    await runOurs(llm, prompts(vocab, 999).slice(0, 16));  // warm-up: pages the weights in
    const runs = [];
    for (let r = 0; r < repeat; r++) runs.push(await runOurs(llm, prompts(vocab, r + 1)));
    await llm.close();
    return { ...summarize(runs), loadS, ids: runs[0].ids };
  }
  const llama = await peer();
  let t = performance.now();
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 512, batchSize: Math.max(promptLen, 512), threads, sequences: 1 });
  const loadS = (performance.now() - t) / 1e3;
  const vocab = loadGgufModelSpec(file).config.vocabSize;  // the same prompts as pagedinfer's
  await runPeer(ctx, prompts(vocab, 999).slice(0, 16));
  const runs = [];
  for (let r = 0; r < repeat; r++) runs.push(await runPeer(ctx, prompts(vocab, r + 1)));
  await ctx.dispose();
  await model.dispose();
  return { ...summarize(runs), loadS, ids: runs[0].ids };
}

if (values.child) {
  const [engine, threads, ...rest] = values.child.split(',');
  const file = rest.join(',');
  process.stdout.write(`RESULT ${JSON.stringify(await measure(engine, file, Number(threads)))}\n`);
  process.exit(0);
}

function child(engine, file, threads) {
  const args = [fileURLToPath(import.meta.url), '--child', `${engine},${threads},${file}`, '--prompt', String(promptLen), '--decode', String(decodeLen), '--repeat', String(repeat)];
  if (values.baseline) args.push('--baseline', values.baseline);
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  return JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT ')).slice(7));
}

await peer();  // installs it once, before any timing
const rows = [];
console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; thread counts tried: ${threadCounts.join(', ')}`);
console.log(`workload: 1 sequence, ${promptLen} prompt tokens, ${decodeLen} generated (greedy), median of ${repeat}`);
for (const m of models()) {
  const bytes = statSync(m.file).size;
  const best = {}, oneThread = {};
  for (const engine of ['pagedinfer', ...(values.baseline ? ['pagedinfer-baseline'] : []), 'llama.cpp']) {
    for (const threads of threadCounts) {
      const r = { ...child(engine, m.file, threads), threads };
      console.log(
        `  ${m.name} ${engine} ${threads} thread(s): prefill ${r.prefillTokS.toFixed(1)} tok/s (${r.prefillTokCpuS.toFixed(1)} per CPU-s), ` +
          `decode ${r.decodeTokS.toFixed(2)} tok/s (${r.decodeTokCpuS.toFixed(2)} per CPU-s), load ${r.loadS.toFixed(2)} s`,
      );
      if (threads === 1) oneThread[engine] = r;
      // Best by decode + prefill time of this workload.
      const time = (x) => promptLen / x.prefillTokS + (decodeLen - 1) / x.decodeTokS;
      if (!best[engine] || time(r) < time(best[engine])) best[engine] = r;
    }
  }
  const ours = best.pagedinfer, peerBest = best['llama.cpp'];
  // How far the two engines' greedy outputs agree on the first prompt (a sanity check of the
  // file's reading; random weights have small margins, so they may part after a few tokens).
  let agree = 0;
  while (agree < decodeLen && ours.ids[agree] === peerBest.ids[agree]) agree++;
  rows.push({ model: m.name, type: m.type, fileMiB: bytes / 2 ** 20, ours, peer: peerBest, baseline: best['pagedinfer-baseline'], oneThread, greedyAgree: agree });
}

const header = '| model | file MiB | prefill tok/s pagedinfer | prefill tok/s llama.cpp | ratio | decode tok/s pagedinfer | decode tok/s llama.cpp | ratio | greedy ids equal |';
console.log(`\n${header}\n|---|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  const t = (x) => ` (${x.threads}t)`;
  console.log(
    `| ${r.model} | ${r.fileMiB.toFixed(1)} | ${r.ours.prefillTokS.toFixed(1)}${t(r.ours)} | ${r.peer.prefillTokS.toFixed(1)}${t(r.peer)} | ${(r.ours.prefillTokS / r.peer.prefillTokS).toFixed(2)} | ` +
      `${r.ours.decodeTokS.toFixed(2)}${t(r.ours)} | ${r.peer.decodeTokS.toFixed(2)}${t(r.peer)} | ${(r.ours.decodeTokS / r.peer.decodeTokS).toFixed(2)} | ${r.greedyAgree}/${decodeLen} |`,
  );
}
if (threadCounts.includes(1)) {
  console.log('\nOne thread, tokens per CPU-second of each engine\'s process (robust to other work on the machine):');
  console.log('| model | prefill pagedinfer | prefill llama.cpp | ratio | decode pagedinfer | decode llama.cpp | ratio |\n|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const a = r.oneThread.pagedinfer, p = r.oneThread['llama.cpp'];
    console.log(
      `| ${r.model} | ${a.prefillTokCpuS.toFixed(1)} | ${p.prefillTokCpuS.toFixed(1)} | ${(a.prefillTokCpuS / p.prefillTokCpuS).toFixed(2)} | ` +
        `${a.decodeTokCpuS.toFixed(2)} | ${p.decodeTokCpuS.toFixed(2)} | ${(a.decodeTokCpuS / p.decodeTokCpuS).toFixed(2)} |`,
    );
  }
}
if (values.baseline) {
  console.log(`\nbefore/after: pagedinfer at ${path.resolve(values.baseline)} (before) vs this checkout (after)`);
  console.log('| model | prefill tok/s before | after | ratio | decode tok/s before | after | ratio |\n|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const b = r.baseline, a = r.ours, t = (x) => ` (${x.threads}t)`;
    console.log(
      `| ${r.model} | ${b.prefillTokS.toFixed(1)}${t(b)} | ${a.prefillTokS.toFixed(1)}${t(a)} | ${(a.prefillTokS / b.prefillTokS).toFixed(2)} | ` +
        `${b.decodeTokS.toFixed(2)}${t(b)} | ${a.decodeTokS.toFixed(2)}${t(a)} | ${(a.decodeTokS / b.decodeTokS).toFixed(2)} |`,
    );
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify({ machine: os.cpus()[0].model, cores: os.cpus().length, threadCounts, promptLen, decodeLen, repeat, rows }, null, 2));
