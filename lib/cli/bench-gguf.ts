// `pagedinfer bench gguf`: prefill and decode tokens/s and resident memory per weight type on the
// CPU, pagedinfer beside node-llama-cpp (llama.cpp) on the same GGUF files, in the same run.
// The files are llama-shaped with random weights (lib/model/synthetic-gguf.ts), written once into
// --models-dir: speed does not depend on the values. Each (engine, thread count) runs in its own
// child process (this command with --child); the tables show each engine's best thread count,
// the per-CPU-second rates of one thread, and with --baseline a before/after of another build.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Command, Option } from 'commander';

import { type GgufBenchEngine, type GgufBenchResult, loadPeer, measureGgufEngine } from '../bench/gguf-cpu.js';
import { formatTable } from '../bench/table.js';
import { SHAPES, type SyntheticType, writeLlamaGguf } from '../model/synthetic-gguf.js';
import { packageRoot } from '../package-root.js';
import { parseInteger } from './common.js';

interface Options {
  types: string;
  shape: string;
  prompt: number;
  decode: number;
  repeat: number;
  threads: string;
  fixtures?: string;
  baseline?: string;
  modelsDir: string;
  peerDir: string;
  outputJson?: string;
  child?: string;
}

interface Row {
  model: string;
  fileMiB: number;
  results: Partial<Record<GgufBenchEngine, Record<number, GgufBenchResult>>>;
  best: Partial<Record<GgufBenchEngine, GgufBenchResult & { threads: number }>>;
  greedyAgree: number;
}

const MiB = 2 ** 20;
const f = (x: number, d = 1) => x.toFixed(d);

function models(o: Options): { name: string; file: string }[] {
  mkdirSync(o.modelsDir, { recursive: true });
  const list = o.types.split(',').map((type) => {
    const file = path.resolve(o.modelsDir, `random-llama-${o.shape}-${type}.gguf`);
    if (!existsSync(file)) {
      process.stderr.write(`writing ${file} ...\n`);
      writeLlamaGguf(file, { shape: o.shape, type: type as SyntheticType, seed: 1 });
    }
    return { name: `${o.shape} ${type}`, file };
  });
  if (o.fixtures)
    for (const name of readdirSync(o.fixtures).filter((n) => n.endsWith('.gguf')).sort())
      list.push({ name: name.replace(/\.gguf$/, ''), file: path.resolve(o.fixtures, name) });
  return list;
}

function runChild(engine: GgufBenchEngine, file: string, threads: number, o: Options): GgufBenchResult {
  const cli = path.join(packageRoot(), 'dist', 'cli', 'main.js');
  const args = [cli, 'bench', 'gguf', '--child', `${engine},${threads},${file}`, '--prompt', String(o.prompt), '--decode', String(o.decode),
    '--repeat', String(o.repeat), '--peer-dir', o.peerDir];
  if (o.baseline) args.push('--baseline', o.baseline);
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`the ${engine} child printed no result`);
  return JSON.parse(line.slice(7)) as GgufBenchResult;
}

function report(rows: Row[], o: Options, threadCounts: number[]): string {
  const t = (r: { threads: number }) => ` (${r.threads}t)`;
  const ratio = (a: number, b: number) => f(a / b, 2);
  const out = [
    `Best thread count of each engine (wall time):`,
    formatTable(
      ['model', 'file MiB', 'prefill tok/s pagedinfer', 'llama.cpp', 'ratio', 'decode tok/s pagedinfer', 'llama.cpp', 'ratio', 'RSS MiB pagedinfer', 'llama.cpp', 'greedy ids equal'],
      rows.map((r) => {
        const a = r.best.pagedinfer!, p = r.best['llama.cpp']!;
        return [r.model, f(r.fileMiB), f(a.prefillTokS) + t(a), f(p.prefillTokS) + t(p), ratio(a.prefillTokS, p.prefillTokS),
          f(a.decodeTokS, 2) + t(a), f(p.decodeTokS, 2) + t(p), ratio(a.decodeTokS, p.decodeTokS), f(a.rssGrowthBytes / MiB), f(p.rssGrowthBytes / MiB),
          `${r.greedyAgree}/${o.decode}`];
      }),
    ),
  ];
  if (threadCounts.includes(1)) {
    out.push('', 'One thread, tokens per CPU-second of each engine\'s process (moves far less with other work on the machine):');
    out.push(formatTable(['model', 'prefill pagedinfer', 'llama.cpp', 'ratio', 'decode pagedinfer', 'llama.cpp', 'ratio'], rows.map((r) => {
      const a = r.results.pagedinfer![1], p = r.results['llama.cpp']![1];
      return [r.model, f(a.prefillTokCpuS), f(p.prefillTokCpuS), ratio(a.prefillTokCpuS, p.prefillTokCpuS), f(a.decodeTokCpuS, 2), f(p.decodeTokCpuS, 2),
        ratio(a.decodeTokCpuS, p.decodeTokCpuS)];
    })));
  }
  if (o.baseline && threadCounts.includes(1)) {
    out.push('', `Before (${path.resolve(o.baseline)}) and after (this build), one thread, tokens per CPU-second:`);
    out.push(formatTable(['model', 'prefill before', 'after', 'ratio', 'decode before', 'after', 'ratio'], rows.map((r) => {
      const b = r.results['pagedinfer-baseline']![1], a = r.results.pagedinfer![1];
      return [r.model, f(b.prefillTokCpuS), f(a.prefillTokCpuS), ratio(a.prefillTokCpuS, b.prefillTokCpuS), f(b.decodeTokCpuS, 2),
        f(a.decodeTokCpuS, 2), ratio(a.decodeTokCpuS, b.decodeTokCpuS)];
    })));
  }
  return out.join('\n');
}

async function run(o: Options): Promise<void> {
  const workload = { promptLen: o.prompt, decodeLen: o.decode, repeat: o.repeat };
  const dirs = { root: packageRoot(), baseline: o.baseline, peerDir: path.resolve(o.peerDir) };
  if (o.child) {
    const [engine, threads, ...file] = o.child.split(',');
    const r = await measureGgufEngine(engine as GgufBenchEngine, file.join(','), Number(threads), workload, dirs);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  await loadPeer(dirs.peerDir, true);  // installs it once, before any timing
  const threadCounts = o.threads.split(',').map(Number);
  const engines: GgufBenchEngine[] = ['pagedinfer', ...(o.baseline ? ['pagedinfer-baseline' as const] : []), 'llama.cpp'];
  const cpus = os.cpus();
  process.stdout.write(`machine   ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${f(os.totalmem() / 2 ** 30, 0)} GiB; node ${process.version}; load average ${os.loadavg().map((x) => f(x, 2)).join(' ')}\n`);
  process.stdout.write(`workload  1 sequence, ${o.prompt} prompt tokens, ${o.decode} generated (greedy), median of ${o.repeat}; threads tried: ${threadCounts.join(', ')}\n`);
  const rows: Row[] = [];
  for (const m of models(o)) {
    const row: Row = { model: m.name, fileMiB: statSync(m.file).size / MiB, results: {}, best: {}, greedyAgree: 0 };
    for (const engine of engines) {
      for (const threads of threadCounts) {
        const r = runChild(engine, m.file, threads, o);
        (row.results[engine] ??= {})[threads] = r;
        process.stderr.write(`  ${m.name} ${engine} ${threads}t: prefill ${f(r.prefillTokS)} tok/s (${f(r.prefillTokCpuS)}/CPU-s), decode ${f(r.decodeTokS, 2)} tok/s (${f(r.decodeTokCpuS, 2)}/CPU-s), RSS +${f(r.rssGrowthBytes / MiB)} MiB\n`);
        // Best = least time for this workload.
        const time = (x: GgufBenchResult) => o.prompt / x.prefillTokS + (o.decode - 1) / x.decodeTokS;
        const best = row.best[engine];
        if (!best || time(r) < time(best)) row.best[engine] = { ...r, threads };
      }
    }
    const a = row.best.pagedinfer!.ids, p = row.best['llama.cpp']!.ids;
    while (row.greedyAgree < o.decode && a[row.greedyAgree] === p[row.greedyAgree]) row.greedyAgree++;
    rows.push(row);
  }
  process.stdout.write(`\n${report(rows, o, threadCounts)}\n`);
  if (o.outputJson) writeFileSync(o.outputJson, `${JSON.stringify({ machine: cpus[0]?.model, cores: cpus.length, threadCounts, workload, rows }, null, 2)}\n`);
}

export function benchGgufCommand(): Command {
  return new Command('gguf')
    .description('CPU prefill/decode tokens/s and memory per weight type, pagedinfer beside node-llama-cpp on the same GGUF files')
    .option('--types <list>', `weight types of the generated models (F32, F16, Q8_0, Q4_0, Q4_K_M)`, 'F16,Q8_0,Q4_0,Q4_K_M')
    .option('--shape <name>', `shape of the generated models (${Object.keys(SHAPES).join(', ')})`, 'bench-200m')
    .option('--prompt <n>', 'prompt tokens', parseInteger('--prompt', 2), 128)
    .option('--decode <n>', 'generated tokens', parseInteger('--decode', 2), 32)
    .option('--repeat <n>', 'measured runs per engine (the median is shown)', parseInteger('--repeat', 1), 3)
    .option('--threads <list>', 'thread counts to try', [...new Set([1, os.cpus().length])].join(','))
    .option('--fixtures <dir>', 'also every .gguf file in this directory (e.g. ../shared/models/gguf)')
    .option('--baseline <dir>', 'also another pagedinfer checkout with its build (before/after)')
    .option('--models-dir <dir>', 'where the generated models are kept', '.bench-models')
    .option('--peer-dir <dir>', 'where node-llama-cpp is (installed there on first use)', '.peer')
    .option('--output-json <file>', 'write the results as JSON')
    .addOption(new Option('--child <engine,threads,file>').hideHelp())
    .action(run);
}
