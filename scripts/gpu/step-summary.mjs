#!/usr/bin/env node
// Summarises a PAGEDINFER_STEP_TRACE file: time spent in decode-only and mixed steps, by batch
// size, and the engine's gaps between steps (none before a step launched while the previous ran).
//   node scripts/gpu/step-summary.mjs steps.jsonl
import { readFileSync } from 'node:fs';

const recs = readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const groups = new Map();
let gap = 0, total = 0, chained = 0;
for (const r of recs) {
  const kind = r.tokens === r.decodes ? 'decode' : r.decodes === 0 ? 'prefill' : 'mixed';
  const bucket = kind === 'decode' ? `decode ${2 ** Math.ceil(Math.log2(Math.max(1, r.seqs)))}` : `${kind} ${Math.ceil(r.tokens / 512) * 512} tok`;
  const g = groups.get(bucket) ?? { steps: 0, ms: 0, tokens: 0, decodes: 0 };
  g.steps++;
  // A chained step's ms includes the time it queued behind the step before it (waitMs).
  const own = r.ms - (r.waitMs ?? 0);
  g.ms += own;
  g.tokens += r.tokens;
  g.decodes += r.decodes;
  groups.set(bucket, g);
  gap += r.gapMs;
  total += own + r.gapMs;
  if (r.chained) chained++;
}
console.log(`${recs.length} steps (${chained} chained), ${(total / 1000).toFixed(2)} s, engine gaps ${(gap / 1000).toFixed(3)} s`);
console.log('kind                     steps   total s   ms/step  tokens/step  decodes/step');
for (const [k, g] of [...groups.entries()].sort()) {
  console.log(`${k.padEnd(24)} ${String(g.steps).padStart(6)} ${(g.ms / 1000).toFixed(2).padStart(9)} ${(g.ms / g.steps).toFixed(2).padStart(9)} ${(g.tokens / g.steps).toFixed(0).padStart(12)} ${(g.decodes / g.steps).toFixed(0).padStart(13)}`);
}
