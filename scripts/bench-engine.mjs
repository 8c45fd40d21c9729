#!/usr/bin/env node
// Engine throughput on the CPU: continuous batching vs one request at a time, same workload.
// Runs the compiled library, so build first:
//   npm run build:ts && node scripts/bench-engine.mjs [--model DIR | --dummy PRESET] [--requests 32]
//     [--dummy-dtype F32] [--input-len 64] [--output-len 64] [--threads N] [--repeat 3] [--json FILE]
// Default model: the bundled tiny-llama preset with random float32 weights. The two modes run
// alternately --repeat times; the table shows the run of median time of each mode.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

import { measureThroughput } from '../dist/bench/engine-throughput.js';
import { loadDummySpec } from '../dist/model/dummy.js';
import { loadHfModelSpec } from '../dist/model/hf-loader.js';
import { NativeModelRunner } from '../dist/native.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dummy: { type: 'string', default: 'tiny-llama' },
    requests: { type: 'string', default: '32' },
    'input-len': { type: 'string', default: '64' },
    'output-len': { type: 'string', default: '64' },
    threads: { type: 'string' },
    repeat: { type: 'string', default: '3' },
    'dummy-dtype': { type: 'string', default: 'F32' },
    json: { type: 'string' },
  },
});

const numRequests = Number(values.requests);
const inputLen = Number(values['input-len']);
const outputLen = Number(values['output-len']);
const spec = values.model ? await loadHfModelSpec(values.model) : loadDummySpec(values.dummy);
const runner = await NativeModelRunner.create(spec, {
  backend: 'cpu',
  threads: values.threads ? Number(values.threads) : undefined,
  loadFormat: values.model ? 'auto' : 'dummy',
  dummyDType: values['dummy-dtype'],
});
const modelName = values.model ?? `${values.dummy} (dummy ${values['dummy-dtype']} weights)`;
console.log(`model: ${modelName}`);
console.log(`backend: ${runner.backend.name} (${runner.describe()}), ${os.cpus().length} cores`);
console.log(`workload: ${numRequests} requests, ${inputLen} prompt tokens, ${outputLen} output tokens, greedy, EOS ignored`);

// Warm-up: page in the weights and let the thread pool spin up.
await measureThroughput(runner, { numRequests: 4, inputLen, outputLen: 8, mode: 'batched' });

const runs = { sequential: [], batched: [] };
for (let i = 0; i < Number(values.repeat); i++) {
  for (const mode of ['sequential', 'batched']) runs[mode].push(await measureThroughput(runner, { numRequests, inputLen, outputLen, mode, seed: 1 }));
}
runner.close();
const median = (list) => [...list].sort((a, b) => a.seconds - b.seconds)[Math.floor((list.length - 1) / 2)];
const results = [median(runs.sequential), median(runs.batched)];
console.log(`seconds of each run: sequential ${runs.sequential.map((r) => r.seconds.toFixed(2)).join(' ')}, batched ${runs.batched.map((r) => r.seconds.toFixed(2)).join(' ')}`);

const rows = results.map((r) => [
  r.mode,
  r.seconds.toFixed(2),
  r.requestsPerSecond.toFixed(2),
  r.outputTokensPerSecond.toFixed(1),
  r.totalTokensPerSecond.toFixed(1),
  String(r.numSteps),
  r.meanTokensPerStep.toFixed(1),
]);
const header = ['mode', 'seconds', 'req/s', 'output tok/s', 'total tok/s', 'steps', 'tokens/step'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
const speedup = results[1].outputTokensPerSecond / results[0].outputTokensPerSecond;
console.log(`batched / sequential output throughput: ${speedup.toFixed(2)}x`);

if (values.json) {
  writeFileSync(values.json, JSON.stringify({ model: modelName, backend: runner.backend.name, results, runs, speedup }, null, 2));
  console.log(`wrote ${values.json}`);
}
