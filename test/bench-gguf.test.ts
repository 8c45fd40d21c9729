// `pagedinfer bench gguf`: its measuring child on a GGUF fixture (no node-llama-cpp needed) gives
// positive rates, and the greedy ids it timed are the model's own (the runs are real generations).
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';

import { benchPrompt, type GgufBenchResult } from '../lib/bench/gguf-cpu.js';
import { loadGgufModelSpec } from '../lib/model/gguf-model.js';
import { NativeModelRunner } from '../lib/native.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { buildDist, CLI } from './helpers/dist.js';
import { runSingleSequence } from './helpers/single-sequence.js';

describe.skipIf(!HAVE_SHARED)(sharedTitle('pagedinfer bench gguf'), () => {
  beforeAll(buildDist);  // the benchmark runs the compiled CLI

  it('a child measures pagedinfer on one file and reports rates, memory and the greedy ids', async () => {
    const file = sharedPath('models', 'gguf', 'stories260K-Q8_0.gguf');
    const out = execFileSync(
      process.execPath,
      [CLI, 'bench', 'gguf', '--child', `pagedinfer,1,${file}`, '--prompt', '12', '--decode', '6', '--repeat', '2'],
      { encoding: 'utf8', env: { ...process.env, PAGEDINFER_BACKEND: 'cpu' } },
    );
    const r = JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7)) as GgufBenchResult;
    for (const rate of [r.prefillTokS, r.decodeTokS, r.prefillTokCpuS, r.decodeTokCpuS]) expect(rate).toBeGreaterThan(0);
    expect(r.rssGrowthBytes).toBeGreaterThan(0);
    // The first measured prompt, run here directly: the same greedy continuation.
    const runner = await NativeModelRunner.create(loadGgufModelSpec(file), { backend: 'cpu' });
    try {
      const direct = await runSingleSequence(runner, benchPrompt(runner.config.vocabSize, 12, 1), 6);
      expect(r.ids).toEqual(direct.greedy);
    } finally {
      runner.close();
    }
  });
});
