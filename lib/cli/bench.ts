// `pagedinfer bench throughput | latency`: the project's benchmarks, each printing one table with
// the device's measured ceilings (or the roofline they imply) beside the result, and --json.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { measureThroughput } from '../bench/engine-throughput.js';
import { measureLatency } from '../bench/latency.js';
import { workloadRoofline } from '../bench/roofline.js';
import { formatTable } from '../bench/table.js';
import { resolveEngineOptions } from '../engine/engine-options.js';
import { readModelSource } from '../load.js';
import { NativeModelRunner } from '../native.js';
import { addModelOptions, loadOptions, type ModelCliOptions, parseInteger } from './common.js';
import { loadProgress } from './progress.js';

async function openRunner(o: ModelCliOptions) {
  const options = loadOptions(o);
  const { spec } = await readModelSource(o.model, options);
  const progress = loadProgress('loading');
  const runner = await NativeModelRunner.create(spec, { ...options, onProgress: progress.onProgress });
  progress.done();
  return { runner, options, name: `${spec.source.path}${spec.source.format === 'dummy' ? ` (dummy ${options.dummyDType} weights)` : ''}` };
}

const GB = 1e9;

function writeJson(file: string | undefined, data: unknown) {
  if (!file) return;
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}

function throughputCommand(): Command {
  const cmd = new Command('throughput').description('offline throughput: N random prompts submitted at once, EOS ignored');
  addModelOptions(cmd)
    .option('--input-len <n>', 'prompt tokens', parseInteger('--input-len', 1), 512)
    .option('--output-len <n>', 'output tokens', parseInteger('--output-len', 1), 128)
    .option('--num-prompts <n>', 'requests', parseInteger('--num-prompts', 1), 512)
    .option('--seed <n>', 'seed of the random prompts', parseInteger('--seed', 0), 0)
    .option('--output-json <file>', 'write the result as JSON')
    .action(async (o: ModelCliOptions & { inputLen: number; outputLen: number; numPrompts: number; seed: number; outputJson?: string }) => {
      const { runner, options, name } = await openRunner(o);
      try {
        const ceilings = await runner.measureCeilings();
        const engine = resolveEngineOptions(runner, options);
        // Warm-up: first-touch the weights and let allocations happen outside the timed run.
        await measureThroughput(runner, { numRequests: 2, inputLen: o.inputLen, outputLen: 2, mode: 'batched', engine: options });
        const r = await measureThroughput(runner, {
          numRequests: o.numPrompts,
          inputLen: o.inputLen,
          outputLen: o.outputLen,
          mode: 'batched',
          seed: o.seed,
          engine: options,
        });
        const blocksPerSeq = Math.ceil((o.inputLen + o.outputLen) / engine.blockSize);
        const maxConcurrent = Math.max(1, Math.min(engine.maxNumSeqs, Math.floor(engine.numBlocks / blocksPerSeq)));
        const roofline = workloadRoofline(
          runner.config,
          runner.weightBytes(),
          runner.kvCacheBytesPerBlock(engine.blockSize) / engine.blockSize,
          ceilings,
          { numPrompts: o.numPrompts, inputLen: o.inputLen, outputLen: o.outputLen, maxConcurrent },
        );
        const fraction = roofline.seconds / r.seconds;
        process.stdout.write(
          [
            `model     ${name}`,
            `backend   ${runner.backend.name}: ${runner.describe()}`,
            `ceilings  copy ${(ceilings.copyBytesPerSecond / GB).toFixed(1)} GB/s, matmul ${(ceilings.matmulFlopsPerSecond / 1e12).toFixed(2)} TFLOP/s (${ceilings.matmulShape})`,
            `workload  ${o.numPrompts} prompts x ${o.inputLen} tokens in, ${o.outputLen} out, EOS ignored; KV cache ${engine.numBlocks} blocks of ${engine.blockSize}, up to ${maxConcurrent} sequences at once`,
            '',
            formatTable(
              ['', 'seconds', 'requests/s', 'output tok/s', 'total tok/s'],
              [
                ['measured', r.seconds.toFixed(2), r.requestsPerSecond.toFixed(2), r.outputTokensPerSecond.toFixed(1), r.totalTokensPerSecond.toFixed(1)],
                [
                  'roofline',
                  roofline.seconds.toFixed(2),
                  (o.numPrompts / roofline.seconds).toFixed(2),
                  roofline.outputTokensPerSecond.toFixed(1),
                  ((o.numPrompts * (o.inputLen + o.outputLen)) / roofline.seconds).toFixed(1),
                ],
              ],
            ),
            '',
            `roofline  prefill ${roofline.prefillSeconds.toFixed(2)} s (${(roofline.prefillFlops / 1e12).toFixed(1)} TFLOP) + decode ${roofline.decodeSeconds.toFixed(2)} s (${roofline.decodeSteps} steps, ${(roofline.decodeBytes / GB).toFixed(0)} GB)`,
            `fraction of roofline reached: ${(fraction * 100).toFixed(1)}%`,
            '',
          ].join('\n'),
        );
        writeJson(o.outputJson, { bench: 'throughput', model: name, backend: runner.backend.name, device: runner.describe(), ceilings, workload: { ...o }, result: r, roofline, fraction });
      } finally {
        runner.close();
      }
    });
  return cmd;
}

function latencyCommand(): Command {
  const cmd = new Command('latency').description('one request alone: time to first token and decode tokens/s');
  addModelOptions(cmd)
    .option('--input-len <n>', 'prompt tokens', parseInteger('--input-len', 1), 128)
    .option('--output-len <n>', 'output tokens', parseInteger('--output-len', 1), 128)
    .option('--num-iters <n>', 'measured runs (after one warm-up)', parseInteger('--num-iters', 1), 3)
    .option('--cold', 'measure process start to first token of a fresh `pagedinfer generate` instead')
    .option('--output-json <file>', 'write the result as JSON')
    .action(async (o: ModelCliOptions & { inputLen: number; outputLen: number; numIters: number; cold?: boolean; outputJson?: string }) => {
      if (o.cold) return coldStart(o);
      const { runner, options, name } = await openRunner(o);
      try {
        const ceilings = await runner.measureCeilings();
        await measureLatency(runner, { inputLen: o.inputLen, outputLen: Math.min(4, o.outputLen), engine: options });
        const runs = [];
        for (let i = 0; i < o.numIters; i++) runs.push(await measureLatency(runner, { inputLen: o.inputLen, outputLen: o.outputLen, seed: i, engine: options }));
        const median = <T>(xs: T[], key: (x: T) => number) => [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)];
        const ttft = median(runs, (r) => r.timeToFirstToken).timeToFirstToken;
        const decode = median(runs, (r) => r.decodeTokensPerSecond).decodeTokensPerSecond;
        // One decode step reads every weight once (and a little KV): its bandwidth roofline.
        const rooflineDecode = ceilings.copyBytesPerSecond / runner.weightBytes();
        process.stdout.write(
          [
            `model     ${name}`,
            `backend   ${runner.backend.name}: ${runner.describe()}`,
            `ceilings  copy ${(ceilings.copyBytesPerSecond / GB).toFixed(1)} GB/s, matmul ${(ceilings.matmulFlopsPerSecond / 1e12).toFixed(2)} TFLOP/s; weights ${(runner.weightBytes() / GB).toFixed(2)} GB`,
            `workload  one request, ${o.inputLen} tokens in, ${o.outputLen} out; median of ${o.numIters}`,
            '',
            formatTable(
              ['', 'time to first token (ms)', 'decode tok/s', 'decode roofline tok/s', 'fraction'],
              [['measured', (ttft * 1000).toFixed(1), decode.toFixed(1), rooflineDecode.toFixed(1), `${((decode / rooflineDecode) * 100).toFixed(1)}%`]],
            ),
            '',
          ].join('\n'),
        );
        writeJson(o.outputJson, { bench: 'latency', model: name, backend: runner.backend.name, ceilings, runs, timeToFirstToken: ttft, decodeTokensPerSecond: decode, rooflineDecode });
      } finally {
        runner.close();
      }
    });
  return cmd;
}

/** Process start to first token: spawn a fresh CLI process and time until it prints the first token. */
async function coldStart(o: ModelCliOptions & { inputLen: number; outputJson?: string }): Promise<void> {
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const args = [cli, 'generate', '--prompt-ids', Array.from({ length: o.inputLen }, (_, i) => 10 + (i % 50)).join(','), '--max-tokens', '1', '--ignore-eos', '--json'];
  if (o.model) args.push('--model', o.model);
  if (o.loadFormat) args.push('--load-format', o.loadFormat, '--dtype', o.dtype);
  if (o.backend !== 'auto') args.push('--backend', o.backend);
  const start = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code: number = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`cold start: pagedinfer generate exited with status ${code}`);
  const first = JSON.parse(out);
  process.stdout.write(`cold start: process start to first token (and exit) ${seconds.toFixed(2)} s (${o.inputLen}-token prompt; first token ${first.tokenIds[0]})\n`);
  writeJson(o.outputJson, { bench: 'latency-cold', seconds, inputLen: o.inputLen });
}

export function benchCommand(): Command {
  return new Command('bench').description('benchmarks (see docs/benchmarks.md)').addCommand(throughputCommand()).addCommand(latencyCommand());
}
