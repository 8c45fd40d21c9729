#!/usr/bin/env node
// Resident memory a model costs, measured in a fresh process so nothing else is counted:
//   node scripts/rss-probe.mjs MODEL.gguf [--engine pagedinfer|node-llama-cpp] [--tokens 16]
// Reads /proc/self/status after the engine's code is loaded (baseline), then loads the model
// and runs one prefill of --tokens tokens, which touches every weight, and reads it again.
// Prints one JSON line: growth of VmRSS, RssAnon (private heap: copies of weights would land
// here) and RssFile (pages of the memory-mapped file), in bytes. Linux only.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function status() {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { engine: { type: 'string', default: 'pagedinfer' }, tokens: { type: 'string', default: '16' } },
});
const file = path.resolve(positionals[0]);
const prompt = Array.from({ length: Number(values.tokens) }, (_, i) => (i === 0 ? 1 : 259 + ((i * 7919) % 4000)));

let before, after;
if (values.engine === 'pagedinfer') {
  const { loadGgufModelSpec } = await import(path.join(ROOT, 'dist/model/gguf-model.js'));
  const { NativeModelRunner, selectBackend } = await import(path.join(ROOT, 'dist/native.js'));
  selectBackend('cpu');  // the addon's code is part of the baseline
  before = status();
  const runner = await NativeModelRunner.create(loadGgufModelSpec(file), { backend: 'cpu' });
  const blocks = Math.ceil(prompt.length / 16);
  runner.initKvCache(blocks, 16);
  const n = prompt.length;
  await runner.step({
    numTokens: n, numSeqs: 1, tokenIds: Int32Array.from(prompt), positions: Int32Array.from(prompt, (_, i) => i),
    queryStart: Int32Array.from([0, n]), seqLens: Int32Array.from([n]), blockTable: Int32Array.from({ length: blocks }, (_, i) => i),
    maxBlocksPerSeq: blocks, slotMapping: Int32Array.from(prompt, (_, i) => i), logitRows: Int32Array.from([n - 1]),
    sampling: null, returnLogits: true, blockCopies: new Int32Array(0),
  });
  after = status();
  runner.close();
} else {
  const { getLlama } = await import(path.join(ROOT, '.peer/node_modules/node-llama-cpp/dist/index.js'));
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  before = status();
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 64, batchSize: 64, threads: 2, flashAttention: false });
  await ctx.getSequence().evaluateWithoutGeneratingNewTokens(prompt);
  after = status();
  await ctx.dispose();
  await model.dispose();
}
console.log(JSON.stringify({ rssGrowth: after.rss - before.rss, anonGrowth: after.anon - before.anon, fileGrowth: after.file - before.file }));
