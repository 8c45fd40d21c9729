// Resolves a --model argument to files on this machine, offline: a path (Hugging Face model
// directory or .gguf file), a Hugging Face repo id already in the local hub cache, or an Ollama
// model name in the local Ollama store. When nothing matches, the error lists every place looked.
import { open, readFile, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelLoadError } from '../errors.js';

export interface ResolvedModel {
  format: 'hf-dir' | 'gguf';
  path: string;
}

export interface ResolveOptions {
  /** Environment to read HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME and OLLAMA_MODELS from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory for the default cache locations and `~/` (default os.homedir()). */
  homeDir?: string;
  /** Base of relative paths (default process.cwd()). */
  cwd?: string;
}

// Repo ids and Ollama name parts: letters, digits, '.', '_', '-', not starting with a dot (no '..').
const NAME_PART = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const OLLAMA_MODEL_LAYER = 'application/vnd.ollama.image.model';

type Lookup = { found: ResolvedModel } | { looked: string };

export async function resolveModel(spec: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new ModelLoadError('no model given: pass a model directory, a .gguf file, a Hugging Face repo id or an Ollama name');
  const env = options.env ?? process.env;
  const home = options.homeDir ?? os.homedir();
  const expanded = spec.startsWith('~/') ? path.join(home, spec.slice(2)) : spec;
  const localPath = path.resolve(options.cwd ?? process.cwd(), expanded);

  const local = await fromPath(localPath);
  if (local) return local;
  const looked = [`a file or directory ${localPath} (not found)`];
  // Something written as a path is only a path: don't go searching caches for "./models/x".
  const pathLike = /^(\.{1,2}|~)?[/\\]/.test(spec) || spec.endsWith('.gguf') || path.isAbsolute(spec);
  if (!pathLike) {
    for (const lookup of [fromHfCache(spec, env, home), fromOllama(spec, env, home)]) {
      for (const result of await lookup) {
        if ('found' in result) return result.found;
        looked.push(result.looked);
      }
    }
  }
  throw new ModelLoadError(
    `model '${spec}' not found. Looked for:\n${looked.map((l) => `  - ${l}`).join('\n')}\n` +
      'Pass a model directory or .gguf file, or download the model first (e.g. `huggingface-cli download ORG/NAME` or `ollama pull NAME`).',
  );
}

async function statOrNull(p: string) {
  try {
    return await stat(p);
  } catch {
    return null;
  }
}

async function isGgufFile(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(4);
      const { bytesRead } = await fh.read(buf, 0, 4, 0);
      return bytesRead === 4 && buf.toString('latin1') === 'GGUF';
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

async function ggufFilesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.toLowerCase().endsWith('.gguf')).sort();
  } catch {
    return [];
  }
}

/** An existing path decides by itself: a model directory, or a GGUF file (any name: Ollama blobs have none). */
async function fromPath(p: string): Promise<ResolvedModel | null> {
  const s = await statOrNull(p);
  if (!s) return null;
  if (s.isDirectory()) return modelInDirectory(p, null, p);
  if (await isGgufFile(p)) return { format: 'gguf', path: p };
  throw new ModelLoadError(`${p} is not a GGUF file (it does not start with "GGUF"): pass a .gguf file or a Hugging Face model directory (with config.json)`);
}

/** A directory holds a model as config.json (+ safetensors), or as .gguf files of which `quant` picks one. */
async function modelInDirectory(dir: string, quant: string | null, what: string): Promise<ResolvedModel> {
  const ggufs = await ggufFilesIn(dir);
  if (quant !== null) {
    const matches = ggufs.filter((f) => f.toLowerCase().includes(quant.toLowerCase()));
    if (matches.length === 1) return { format: 'gguf', path: path.join(dir, matches[0]) };
    throw new ModelLoadError(`${what}: ${matches.length ? 'several' : 'no'} .gguf files match '${quant}' (files: ${ggufs.join(', ') || 'none'})`);
  }
  if (await statOrNull(path.join(dir, 'config.json'))) return { format: 'hf-dir', path: dir };
  if (ggufs.length === 1) return { format: 'gguf', path: path.join(dir, ggufs[0]) };
  if (ggufs.length > 1) {
    throw new ModelLoadError(`${what} holds several .gguf files (${ggufs.join(', ')}): name one (a file path, or ORG/NAME:QUANT such as :Q4_K_M)`);
  }
  throw new ModelLoadError(`${what} has no config.json and no .gguf file: it is not a model directory`);
}

/** huggingface_hub's cache location: HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function huggingFaceHubCache(env: Record<string, string | undefined>, home: string): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  return path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'huggingface', 'hub');
}

/** ORG/NAME (a model directory) or ORG/NAME:QUANT (one .gguf of a GGUF repo) in the hub cache. */
async function fromHfCache(spec: string, env: Record<string, string | undefined>, home: string): Promise<Lookup[]> {
  const m = /^([^/:]+)\/([^/:]+)(?::([^/:]+))?$/.exec(spec);
  if (!m || !NAME_PART.test(m[1]) || !NAME_PART.test(m[2]) || (m[3] !== undefined && !NAME_PART.test(m[3]))) return [];
  const [, org, name, quant] = m;
  const repoDir = path.join(huggingFaceHubCache(env, home), `models--${org}--${name}`);
  let revision: string | null = null;
  try {
    revision = (await readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).trim();
  } catch {
    // No refs/main (a cache copied without refs): a single snapshot is unambiguous.
    const snapshots = await readdir(path.join(repoDir, 'snapshots')).catch(() => [] as string[]);
    if (snapshots.length === 1) revision = snapshots[0];
  }
  if (revision === null || !NAME_PART.test(revision)) return [{ looked: `the Hugging Face cache: ${repoDir}/refs/main (not found)` }];
  const snapshot = path.join(repoDir, 'snapshots', revision);
  if (!(await statOrNull(snapshot))?.isDirectory()) return [{ looked: `the Hugging Face cache: ${snapshot} (refs/main names it, but it is missing)` }];
  return [{ found: await modelInDirectory(snapshot, quant ?? null, `Hugging Face cache ${spec} (${snapshot})`) }];
}

/** Ollama's store: OLLAMA_MODELS, else ~/.ollama/models (and the Linux service's /usr/share/ollama/.ollama/models). */
export function ollamaModelDirs(env: Record<string, string | undefined>, home: string): string[] {
  if (env.OLLAMA_MODELS) return [env.OLLAMA_MODELS];
  return [path.join(home, '.ollama', 'models'), '/usr/share/ollama/.ollama/models'];
}

/** [HOST/][NAMESPACE/]NAME[:TAG] → manifests/HOST/NAMESPACE/NAME/TAG → its model layer's blob. */
async function fromOllama(spec: string, env: Record<string, string | undefined>, home: string): Promise<Lookup[]> {
  const colon = spec.lastIndexOf(':');
  const hasTag = colon > spec.lastIndexOf('/');
  const tag = hasTag ? spec.slice(colon + 1) : 'latest';
  const parts = (hasTag ? spec.slice(0, colon) : spec).split('/');
  if (parts.length > 3 || ![...parts, tag].every((p) => NAME_PART.test(p))) return [];
  const [host, namespace, name] = parts.length === 3 ? parts : parts.length === 2 ? ['registry.ollama.ai', ...parts] : ['registry.ollama.ai', 'library', parts[0]];
  const results: Lookup[] = [];
  for (const dir of ollamaModelDirs(env, home)) {
    const manifestPath = path.join(dir, 'manifests', host, namespace, name, tag);
    let text: string;
    try {
      text = await readFile(manifestPath, 'utf8');
    } catch {
      results.push({ looked: `the Ollama store: ${manifestPath} (not found)` });
      continue;
    }
    return [...results, { found: await ollamaBlob(manifestPath, text, dir) }];
  }
  return results;
}

async function ollamaBlob(manifestPath: string, text: string, dir: string): Promise<ResolvedModel> {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch {
    throw new ModelLoadError(`${manifestPath} is not valid JSON: the Ollama store is damaged (ollama pull the model again)`);
  }
  const layers = (manifest as { layers?: unknown }).layers;
  const layer = Array.isArray(layers) ? layers.find((l) => l && typeof l === 'object' && (l as { mediaType?: unknown }).mediaType === OLLAMA_MODEL_LAYER) : undefined;
  if (!layer) throw new ModelLoadError(`${manifestPath} has no ${OLLAMA_MODEL_LAYER} layer: it is not a model Ollama can run (an adapter or a projector?)`);
  const digest = (layer as { digest?: unknown }).digest;
  const hex = typeof digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1] : undefined;
  if (!hex) throw new ModelLoadError(`${manifestPath}: the model layer's digest ${JSON.stringify(digest)} is not sha256:<64 hex digits>`);
  const blob = path.join(dir, 'blobs', `sha256-${hex}`);
  if (!(await statOrNull(blob))?.isFile()) throw new ModelLoadError(`${manifestPath} names ${blob}, which is missing: the Ollama store is incomplete (ollama pull the model again)`);
  if (!(await isGgufFile(blob))) throw new ModelLoadError(`${blob} (the model layer of ${manifestPath}) is not a GGUF file`);
  return { format: 'gguf', path: blob };
}
