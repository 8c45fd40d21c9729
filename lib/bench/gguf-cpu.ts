// Prefill and decode speed, and resident memory, of one GGUF file on the CPU, for pagedinfer and
// for node-llama-cpp (llama.cpp): the measuring half of `pagedinfer bench gguf`, run in a child
// process per engine and thread count so that neither engine's threads or memory are there while
// the other runs.
//
// One sequence, greedy, prompts of random token ids (a new one per repeat, so pagedinfer's prefix
// cache never hits). Prefill = prompt tokens / time to the first token; decode = the later tokens
// / their time; both also per CPU-second of the process, which other work on the machine moves
// far less than wall time. Each engine keeps its defaults otherwise (llama.cpp: F16 KV cache,
// flash attention auto; pagedinfer: F32 KV cache).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { loadGgufModelSpec } from '../model/gguf-model.js';

export type GgufBenchEngine = 'pagedinfer' | 'pagedinfer-baseline' | 'llama.cpp';

export interface GgufBenchWorkload {
  promptLen: number;
  decodeLen: number;
  repeat: number;
}

export interface GgufBenchResult {
  prefillTokS: number;
  decodeTokS: number;
  prefillTokCpuS: number;
  decodeTokCpuS: number;
  loadS: number;
  /** Growth of the process's resident memory from before loading to after the runs. */
  rssGrowthBytes: number;
  /** Greedy ids of the first measured prompt (to compare the engines' reading of the file). */
  ids: number[];
}

/** The peer, installed on first use (not a dependency: its optional CUDA/Vulkan binaries are large). */
export const PEER_PACKAGES = ['node-llama-cpp@3.22.1', '@node-llama-cpp/linux-x64@3.22.1'];

interface Run {
  ttft: number;
  decodeTime: number;
  ttftCpu: number;
  decodeCpu: number;
  decoded: number;
  ids: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function rssBytes(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

/** Random plain-token prompts (no special tokens), the same for both engines. */
export function benchPrompt(vocab: number, length: number, seed: number): number[] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % (vocab - 300)) + 259;
  return [1, ...Array.from({ length: length - 1 }, next)];
}

/** Times one greedy generation given as an async iterator of token-id arrays. */
async function timeGeneration(tokens: AsyncIterable<number[]>): Promise<Run> {
  const t0 = performance.now(), c0 = cpuSeconds();
  let tFirst = 0, tLast = 0, cFirst = 0, cLast = 0;
  const ids: number[] = [];
  for await (const chunk of tokens) {
    if (chunk.length === 0) continue;
    const now = performance.now(), cpu = cpuSeconds();
    if (ids.length === 0) [tFirst, cFirst] = [now, cpu];
    [tLast, cLast] = [now, cpu];
    ids.push(...chunk);
  }
  return { ttft: (tFirst - t0) / 1e3, decodeTime: (tLast - tFirst) / 1e3, ttftCpu: cFirst - c0, decodeCpu: cLast - cFirst, decoded: ids.length - 1, ids };
}

// The few calls of node-llama-cpp used here (it is not a dependency, so no types).
interface PeerLlama {
  loadModel(o: { modelPath: string }): Promise<{
    createContext(o: { contextSize: number; batchSize: number; threads: number; sequences: number }): Promise<{
      getSequence(): {
        evaluate(tokens: number[], o: { temperature: number }): AsyncGenerator<number>;
        dispose(): void;
      };
      dispose(): Promise<void>;
    }>;
    dispose(): Promise<void>;
  }>;
}

/** node-llama-cpp from `peerDir` (installed there on first use), or null with the reason. */
export async function loadPeer(peerDir: string, install: boolean): Promise<PeerLlama> {
  const entry = path.join(peerDir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) {
    if (!install) throw new Error(`node-llama-cpp is not installed in ${peerDir}`);
    process.stderr.write(`installing ${PEER_PACKAGES.join(' ')} into ${peerDir} ...\n`);
    mkdirSync(peerDir, { recursive: true });
    if (!existsSync(path.join(peerDir, 'package.json'))) writeFileSync(path.join(peerDir, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--omit=optional', '--no-audit', '--no-fund', ...PEER_PACKAGES], { cwd: peerDir, stdio: 'inherit' });
  }
  const { getLlama } = (await import(pathToFileURL(entry).href)) as { getLlama(o: object): Promise<PeerLlama> };
  return getLlama({ gpu: false, build: 'never', logLevel: 'error' });
}

function summarize(runs: Run[], w: GgufBenchWorkload, loadS: number, rssGrowthBytes: number): GgufBenchResult {
  return {
    prefillTokS: median(runs.map((r) => w.promptLen / r.ttft)),
    decodeTokS: median(runs.map((r) => r.decoded / r.decodeTime)),
    prefillTokCpuS: median(runs.map((r) => w.promptLen / r.ttftCpu)),
    decodeTokCpuS: median(runs.map((r) => r.decoded / r.decodeCpu)),
    loadS,
    rssGrowthBytes,
    ids: runs[0].ids,
  };
}

/**
 * Measures one engine on one file in this process. `root` is the pagedinfer checkout whose
 * dist/ to run (another build for pagedinfer-baseline); `peerDir` where node-llama-cpp is.
 */
export async function measureGgufEngine(
  engine: GgufBenchEngine,
  file: string,
  threads: number,
  w: GgufBenchWorkload,
  dirs: { root: string; baseline?: string; peerDir: string },
): Promise<GgufBenchResult> {
  const vocab = loadGgufModelSpec(file).config.vocabSize;
  const prompts = Array.from({ length: w.repeat }, (_, r) => benchPrompt(vocab, w.promptLen, r + 1));
  const warmup = benchPrompt(vocab, 16, 999);
  const runs: Run[] = [];
  if (engine !== 'llama.cpp') {
    const root = engine === 'pagedinfer' ? dirs.root : path.resolve(dirs.baseline ?? '');
    const { loadModel } = (await import(pathToFileURL(path.join(root, 'dist', 'load.js')).href)) as typeof import('../load.js');
    const rss0 = rssBytes();
    const t = performance.now();
    const llm = await loadModel(file, { backend: 'cpu', threads, maxModelLen: w.promptLen + w.decodeLen + 16, kvCacheBytes: 512 * 2 ** 20 });
    const loadS = (performance.now() - t) / 1e3;
    const generate = (p: number[], n: number) =>
      (async function* () {
        for await (const c of llm.generate({ promptTokenIds: p }, { maxTokens: n, temperature: 0, ignoreEos: true })) yield c.tokenIds;
      })();
    await timeGeneration(generate(warmup, 4));  // pages the weights in, spins the threads up
    for (const p of prompts) runs.push(await timeGeneration(generate(p, w.decodeLen)));
    const rss = rssBytes() - rss0;
    await llm.close();
    return summarize(runs, w, loadS, rss);
  }
  const llama = await loadPeer(dirs.peerDir, false);
  const rss0 = rssBytes();
  const t = performance.now();
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 512, batchSize: Math.max(w.promptLen, 512), threads, sequences: 1 });
  const loadS = (performance.now() - t) / 1e3;
  const generate = (p: number[], n: number) =>
    (async function* () {
      const seq = ctx.getSequence();
      try {
        let count = 0;
        for await (const id of seq.evaluate(p, { temperature: 0 })) {
          yield [id];
          if (++count >= n) break;
        }
      } finally {
        seq.dispose();
      }
    })();
  await timeGeneration(generate(warmup, 4));
  for (const p of prompts) runs.push(await timeGeneration(generate(p, w.decodeLen)));
  const rss = rssBytes() - rss0;
  await ctx.dispose();
  await model.dispose();
  return summarize(runs, w, loadS, rss);
}
