// The synthetic model writer's options the GPU benchmarks use (scripts/gpu/write-dummy-weights.mjs):
// an untied output projection, the rope base and epsilon of a preset, and repeated rows; the file
// reads back as that model and runs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadGgufModelSpec } from '../lib/model/gguf-model.js';
import { writeLlamaGguf } from '../lib/model/synthetic-gguf.js';
import { NativeModelRunner } from '../lib/native.js';
import { runSingleSequence } from './helpers/single-sequence.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pagedinfer-synthetic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeLlamaGguf', () => {
  const shape = { hidden: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, vocab: 1024, context: 512, ropeTheta: 500000, rmsNormEps: 1e-6, tied: false };

  it('writes an untied model with the given rope base and epsilon, rows repeated, that runs', async () => {
    const file = path.join(dir, 'untied.gguf');
    const written = writeLlamaGguf(file, { shape, type: 'F16', fill: 'repeat' });
    const spec = loadGgufModelSpec(file);
    expect(spec.config).toMatchObject({ tieWordEmbeddings: false, rmsNormEps: expect.closeTo(1e-6, 12), vocabSize: 1024, numKvHeads: 2 });
    expect(spec.config.rope.theta).toBe(500000);
    expect(spec.tensors.find((t) => t.name === 'output.weight')?.shape).toEqual([1024, 256]);
    expect(written.parameters).toBe(spec.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0));
    const runner = await NativeModelRunner.create(spec, { backend: 'cpu' });
    try {
      const run = await runSingleSequence(runner, [1, 300, 700], 4);
      expect(run.promptLogits.every(Number.isFinite)).toBe(true);
    } finally {
      runner.close();
    }
  });

  it('repeats at most 64 distinct rows per tensor in repeat mode, draws every row in random mode', () => {
    const repeat = writeLlamaGguf(path.join(dir, 'repeat.gguf'), { shape, type: 'F16', fill: 'repeat', seed: 5 });
    const random = writeLlamaGguf(path.join(dir, 'random.gguf'), { shape, type: 'F16', seed: 5 });
    expect(repeat.bytes).toBe(random.bytes);
    const rows = (file: string) => {
      const spec = loadGgufModelSpec(file);
      const t = spec.tensors.find((x) => x.name === 'output.weight')!;
      const buf = readFileSync(file).subarray(t.offset, t.offset + t.byteLength) as Buffer;
      const rowBytes = t.byteLength / t.shape[0];
      return new Set(Array.from({ length: t.shape[0] }, (_, i) => buf.subarray(i * rowBytes, (i + 1) * rowBytes).toString('hex'))).size;
    };
    expect(rows(path.join(dir, 'repeat.gguf'))).toBe(64);
    expect(rows(path.join(dir, 'random.gguf'))).toBe(1024);
  });
});
