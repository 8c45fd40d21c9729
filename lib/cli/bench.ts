// `pagedinfer bench throughput | latency`: the project's benchmarks, each printing one table with
// the device's measured ceilings (or the roofline they imply) beside the result, and --json.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command } from 'commander';

import { measureThroughput } from '../bench/engine-throughput.js';
import { measureLatency } from '../bench/latency.js';
import { goodput, runServingBenchmark, type Distribution } from '../bench/serving.js';
import { workloadRoofline } from '../bench/roofline.js';
import { formatTable } from '../bench/table.js';
import { resolveEngineOptions } from '../engine/engine-options.js';
import { readModelSource } from '../load.js';
import type { LoadTimes } from '../llm.js';
import { NativeModelRunner } from '../native.js';
import { InvalidRequestError } from '../errors.js';
import { benchGgufCommand } from './bench-gguf.js';
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
        await measureLatency(runner, { inputLen: o.inputLen, outputLen: Math.min(4, o.outputLen), engine: options });
        const runs = [];
        for (let i = 0; i < o.numIters; i++) runs.push(await measureLatency(runner, { inputLen: o.inputLen, outputLen: o.outputLen, seed: i, engine: options }));
        const median = <T>(xs: T[], key: (x: T) => number) => [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)];
        // Peak resident memory of the runs (before the ceilings' own buffers): weights are memory-mapped
        // (CPU) or on the device, so it should stay near the model's size, not a multiple of it.
        const peakRss = process.resourceUsage().maxRSS * 1024;
        const ceilings = await runner.measureCeilings();
        const ttft = median(runs, (r) => r.timeToFirstToken).timeToFirstToken;
        const decode = median(runs, (r) => r.decodeTokensPerSecond).decodeTokensPerSecond;
        const prefill = o.inputLen / ttft;
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
              ['', 'time to first token (ms)', 'prefill tok/s', 'decode tok/s', 'decode roofline tok/s', 'fraction'],
              [['measured', (ttft * 1000).toFixed(1), prefill.toFixed(1), decode.toFixed(1), rooflineDecode.toFixed(1), `${((decode / rooflineDecode) * 100).toFixed(1)}%`]],
            ),
            `peak resident memory ${(peakRss / 2 ** 20).toFixed(0)} MiB (weights ${(runner.weightBytes() / 2 ** 20).toFixed(0)} MiB as the backend holds them)`,
            '',
          ].join('\n'),
        );
        writeJson(o.outputJson, { bench: 'latency', model: name, backend: runner.backend.name, ceilings, runs, timeToFirstToken: ttft, prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode, rooflineDecode, peakRssBytes: peakRss, weightBytes: runner.weightBytes() });
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
  const first = JSON.parse(out) as { tokenIds: number[]; load: LoadTimes };
  const load = first.load;
  const rest = seconds - load.modelFiles - load.weights - load.engine;
  process.stdout.write(
    `cold start: process start to first token (and exit) ${seconds.toFixed(2)} s (${o.inputLen}-token prompt; first token ${first.tokenIds[0]})\n` +
      `  model files ${load.modelFiles.toFixed(2)} s, weights on the device ${load.weights.toFixed(2)} s ` +
      `(${(load.weightBytes / 1e9).toFixed(1)} GB, ${(load.weightBytes / 1e9 / load.weights).toFixed(1)} GB/s), ` +
      `KV cache + warm-up ${load.engine.toFixed(2)} s, the rest (process start, first step, exit) ${rest.toFixed(2)} s\n`,
  );
  writeJson(o.outputJson, { bench: 'latency-cold', seconds, inputLen: o.inputLen, load });
}

/** The CLI arguments that start a server with the same model and engine options. */
function serveArgs(o: ModelCliOptions): string[] {
  const args: string[] = [];
  const add = (flag: string, value: unknown) => {
    if (value !== undefined) args.push(flag, String(value));
  };
  add('--model', o.model);
  add('--backend', o.backend);
  add('--threads', o.threads);
  add('--load-format', o.loadFormat);
  add('--dtype', o.dtype);
  add('--kv-cache-bytes', o.kvCacheBytes);
  add('--gpu-memory-utilization', o.gpuMemoryUtilization);
  add('--block-size', o.blockSize);
  add('--max-num-seqs', o.maxNumSeqs);
  add('--max-num-batched-tokens', o.maxNumBatchedTokens);
  add('--max-prefill-tokens-while-decoding', o.maxPrefillTokensWhileDecoding);
  add('--max-model-len', o.maxModelLen);
  if (!o.prefixCaching) args.push('--no-prefix-caching');
  return args;
}

/** Starts `pagedinfer serve` on a free port and resolves with its URL once it listens. */
function startServer(o: ModelCliOptions): Promise<{ url: string; child: ChildProcess }> {
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--log-level', 'info', ...serveArgs(o)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (const line of buffered.split('\n')) {
        try {
          const log = JSON.parse(line);
          if (log.msg === 'listening') resolve({ url: log.url, child });
        } catch {
          // a partial line: wait for the rest
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`pagedinfer serve exited with status ${code} before listening`)));
  });
}

function ms(d: Distribution): string[] {
  return [(d.mean * 1000).toFixed(2), (d.median * 1000).toFixed(2), (d.p99 * 1000).toFixed(2)];
}

function servingCommand(): Command {
  const cmd = new Command('serving').description('a Poisson load against `pagedinfer serve` (started here unless --base-url): TTFT, TPOT, ITL');
  addModelOptions(cmd)
    .option('--base-url <url>', 'an already running OpenAI-compatible server (default: start `pagedinfer serve` with the model options)')
    .option('--api-key <key>', 'API key of that server')
    .option('--vocab-size <n>', 'vocabulary size for random prompts with --base-url', parseInteger('--vocab-size', 2), 32000)
    .option('--num-prompts <n>', 'requests', parseInteger('--num-prompts', 1), 200)
    .option('--input-len <n>', 'prompt tokens', parseInteger('--input-len', 1), 512)
    .option('--output-len <n>', 'output tokens', parseInteger('--output-len', 1), 128)
    .option('--request-rate <rate>', "requests per second (Poisson arrivals), or 'inf' for all at once", 'inf')
    .option('--max-concurrency <n>', 'requests in flight at most', parseInteger('--max-concurrency', 1), 1_000_000)
    .option('--goodput <slos>', 'service-level objectives in ms for goodput, e.g. ttft:500,tpot:50')
    .option('--seed <n>', 'seed of prompts and arrivals', parseInteger('--seed', 0), 0)
    .option('--output-json <file>', 'write the result as JSON')
    .action(
      async (
        o: ModelCliOptions & {
          baseUrl?: string;
          apiKey?: string;
          vocabSize: number;
          numPrompts: number;
          inputLen: number;
          outputLen: number;
          requestRate: string;
          maxConcurrency: number;
          goodput?: string;
          seed: number;
          outputJson?: string;
        },
      ) => {
        const rate = o.requestRate === 'inf' ? Infinity : Number(o.requestRate);
        if (!(rate > 0)) throw new InvalidRequestError(`--request-rate must be a positive number or inf, got ${o.requestRate}`);
        const slo: { ttftMs?: number; tpotMs?: number } = {};
        for (const part of o.goodput ? o.goodput.split(',') : []) {
          const [key, value] = part.split(':');
          if ((key !== 'ttft' && key !== 'tpot') || !(Number(value) > 0)) throw new InvalidRequestError(`--goodput: bad objective "${part}" (use ttft:MS,tpot:MS)`);
          slo[key === 'ttft' ? 'ttftMs' : 'tpotMs'] = Number(value);
        }
        let vocabSize = o.vocabSize;
        let server: { url: string; child: ChildProcess } | null = null;
        if (!o.baseUrl) {
          vocabSize = (await readModelSource(o.model, loadOptions(o))).spec.config.vocabSize;
          server = await startServer(o);
        }
        const baseUrl = (o.baseUrl ?? server!.url).replace(/\/+$/, '');
        try {
          const models = (await (await fetch(`${baseUrl}/v1/models`, { headers: o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {} })).json()) as { data: { id: string }[] };
          const model = models.data[0].id as string;
          const r = await runServingBenchmark({
            baseUrl,
            model,
            apiKey: o.apiKey,
            numPrompts: o.numPrompts,
            inputLen: o.inputLen,
            outputLen: o.outputLen,
            vocabSize,
            requestRate: rate,
            maxConcurrency: o.maxConcurrency,
            seed: o.seed,
          });
          const good = o.goodput ? goodput(r, slo) : null;
          process.stdout.write(
            [
              `server    ${baseUrl} (${model})`,
              `workload  ${o.numPrompts} requests, ${o.inputLen} tokens in, ${o.outputLen} out, rate ${o.requestRate}/s, concurrency <= ${o.maxConcurrency === 1_000_000 ? 'unbounded' : o.maxConcurrency}`,
              `completed ${r.completed} (failed ${r.failed}) in ${r.seconds.toFixed(2)} s: ${r.requestThroughput.toFixed(2)} requests/s, ${r.outputTokensPerSecond.toFixed(1)} output tok/s${good === null ? '' : `, goodput ${good.toFixed(2)} requests/s`}`,
              '',
              formatTable(['ms', 'mean', 'median', 'p99'], [['TTFT', ...ms(r.ttft)], ['TPOT', ...ms(r.tpot)], ['ITL', ...ms(r.itl)], ['E2E', ...ms(r.e2e)]]),
              '',
            ].join('\n'),
          );
          if (r.failed) process.stderr.write(`first failure: ${r.requests.find((q) => !q.ok)?.error}\n`);
          const { requests, ...summary } = r;
          writeJson(o.outputJson, { bench: 'serving', baseUrl, model, workload: { numPrompts: o.numPrompts, inputLen: o.inputLen, outputLen: o.outputLen, requestRate: o.requestRate, maxConcurrency: o.maxConcurrency }, ...summary, goodput: good, slo });
          if (r.failed) process.exitCode = 1;
        } finally {
          if (server) {
            server.child.kill('SIGTERM');
            await new Promise((r) => server!.child.once('exit', r));
          }
        }
      },
    );
  return cmd;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('benchmarks (see docs/benchmarks.md)')
    .addCommand(throughputCommand())
    .addCommand(latencyCommand())
    .addCommand(servingCommand())
    .addCommand(benchGgufCommand());
}
