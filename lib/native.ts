// Loads the native addon that suits this machine (CUDA when a GPU is usable, else CPU) and wraps
// its NativeModel as the engine's ModelRunner. Which addon was loaded, and why, is always
// reported: users must be able to see what they are running on.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ModelRunner } from './engine/types.js';
import type { StepBatch, StepResult } from './engine/step-batch.js';
import { CapacityError, ModelLoadError, NativeError, PagedInferError } from './errors.js';
import { DTYPE_CODES, type ModelConfig, type ModelSpec, type WeightDType } from './model/types.js';

export type BackendName = 'cpu' | 'cuda';
export type BackendRequest = 'auto' | BackendName;

interface NativeModelHandle {
  load(tensors: unknown[], onProgress?: (fraction: number) => void): Promise<void>;
  loadDummy(dtypeCode: number, seed: number, onProgress?: (fraction: number) => void): Promise<void>;
  kvCacheBytesPerBlock(blockSize: number): number;
  initKvCache(numBlocks: number, blockSize: number): void;
  availableMemory(): number;
  weightBytes(): number;
  step(batch: StepBatch): Promise<StepResult>;
  describe(): string;
  measureCeilings(): Promise<DeviceCeilings>;
  dispose(): void;
}

/** What the device does at best, measured on it: benchmarks report their results beside these. */
export interface DeviceCeilings {
  /** A large device-to-device copy: bytes read + written per second. */
  copyBytesPerSecond: number;
  /** A large matrix product's rate, and what was measured. */
  matmulFlopsPerSecond: number;
  matmulShape: string;
}

interface NativeAddon {
  NativeModel: new (options: { config: Record<string, unknown>; threads?: number; device?: number }) => NativeModelHandle;
  backendInfo(): Record<string, unknown> & { name: string; available?: boolean; reason?: string };
  abiVersion: number;
}

export interface BackendSelection {
  name: BackendName;
  /** One line: why this addon was chosen (GPU found / not found / forced). */
  reason: string;
  addonPath: string;
  /** What the addon reports about its device (GPU name, driver, SIMD level, ...). */
  info: Record<string, unknown>;
}

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Where an addon may be, best first: a prebuilt binary shipped in the package, then a local build. */
export function addonCandidates(name: BackendName): string[] {
  const file = `pagedinfer_${name}.node`;
  return [
    path.join(PACKAGE_ROOT, 'prebuilds', `${process.platform}-${process.arch}`, file),
    path.join(PACKAGE_ROOT, 'build', 'Release', file),
  ];
}

function loadAddon(name: BackendName): { addon: NativeAddon; file: string } | { error: string } {
  const candidates = addonCandidates(name);
  const file = candidates.find((f) => existsSync(f));
  if (!file) return { error: `no ${name} addon found (looked for ${candidates.join(', ')})` };
  try {
    return { addon: require(file) as NativeAddon, file };
  } catch (e) {
    return { error: `the ${name} addon at ${file} failed to load: ${(e as Error).message}` };
  }
}

const selections = new Map<BackendRequest, { addon: NativeAddon; selection: BackendSelection }>();

/** Picks the addon: `backend` option, else PAGEDINFER_BACKEND, else CUDA when usable, else CPU. */
export function selectBackend(requested?: BackendRequest): { addon: NativeAddon; selection: BackendSelection } {
  const env = process.env.PAGEDINFER_BACKEND as BackendRequest | undefined;
  const choice: BackendRequest = requested ?? (env && env !== ('' as BackendRequest) ? env : 'auto');
  if (!['auto', 'cpu', 'cuda'].includes(choice))
    throw new NativeError(`unknown backend "${choice}" (use auto, cpu or cuda)`);
  const cached = selections.get(choice);
  if (cached) return cached;
  const forcedBy = requested ? 'the backend option' : 'PAGEDINFER_BACKEND';
  let result: { addon: NativeAddon; selection: BackendSelection };
  let cudaProblem = '';
  if (choice !== 'cpu') {
    const cuda = loadAddon('cuda');
    if ('addon' in cuda) {
      const info = cuda.addon.backendInfo();
      if (info.available) {
        const reason = choice === 'cuda' ? `forced by ${forcedBy}` : `GPU found: ${String(info.device ?? 'CUDA device')}`;
        result = { addon: cuda.addon, selection: { name: 'cuda', reason, addonPath: cuda.file, info } };
        selections.set(choice, result);
        return result;
      }
      cudaProblem = `no usable CUDA device (${String(info.reason ?? 'unknown reason')})`;
    } else {
      cudaProblem = cuda.error;
    }
    if (choice === 'cuda') throw new NativeError(`the CUDA backend was requested by ${forcedBy}, but ${cudaProblem}`);
  }
  const cpu = loadAddon('cpu');
  if ('error' in cpu)
    throw new NativeError(
      `${cpu.error}. Build it from the package directory with \`npm run build:native\` (needs CMake and a C++ compiler), or reinstall the package to get its prebuilt binary.`,
    );
  const reason = choice === 'cpu' ? `forced by ${forcedBy}` : `running on the CPU: ${cudaProblem}`;
  result = { addon: cpu.addon, selection: { name: 'cpu', reason, addonPath: cpu.file, info: cpu.addon.backendInfo() } };
  selections.set(choice, result);
  return result;
}

/** Turns an error from the addon (with its `code`) into the project's typed errors. */
export function mapNativeError(e: unknown): Error {
  if (e instanceof PagedInferError) return e;
  const err = e as Error & { code?: string };
  switch (err?.code) {
    case 'ERR_MODEL_FORMAT':
      return new ModelLoadError(err.message, { cause: e });
    case 'ERR_OUT_OF_MEMORY':
      return new CapacityError(`out of memory: ${err.message}`);
    default:
      return new NativeError(err?.message ?? String(e), { cause: e });
  }
}

function nativeConfig(spec: ModelSpec): Record<string, unknown> {
  const c: ModelConfig = spec.config;
  return {
    hiddenSize: c.hiddenSize,
    intermediateSize: c.intermediateSize,
    numLayers: c.numLayers,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    vocabSize: c.vocabSize,
    maxContext: c.maxContext,
    rmsNormEps: c.rmsNormEps,
    rotaryDim: c.rope.rotaryDim,
    ropeNeox: c.rope.style === 'neox',
    ropeInvFreq: spec.ropeInvFreq,
    tieWordEmbeddings: c.tieWordEmbeddings,
    attentionBias: c.attentionBias,
    qkNorm: c.qkNorm,
  };
}

export interface RunnerOptions {
  backend?: BackendRequest;
  /** CPU threads (default: one per core). */
  threads?: number;
  /** Weight loading progress in [0, 1]. */
  onProgress?: (fraction: number) => void;
  /** 'dummy': random weights of the spec's shapes, made on the device (benchmarks). */
  loadFormat?: 'auto' | 'dummy';
  dummyDType?: WeightDType;
  seed?: number;
}

/** The native model of one backend, as the engine drives it. */
export class NativeModelRunner implements ModelRunner {
  readonly config: ModelConfig;
  readonly backend: BackendSelection;
  private handle: NativeModelHandle | null;

  private constructor(config: ModelConfig, backend: BackendSelection, handle: NativeModelHandle) {
    this.config = config;
    this.backend = backend;
    this.handle = handle;
  }

  static async create(spec: ModelSpec, options: RunnerOptions = {}): Promise<NativeModelRunner> {
    const { addon, selection } = selectBackend(options.backend);
    let handle: NativeModelHandle;
    try {
      handle = new addon.NativeModel({ config: nativeConfig(spec), threads: options.threads });
    } catch (e) {
      throw mapNativeError(e);
    }
    try {
      if (options.loadFormat === 'dummy') {
        await handle.loadDummy(DTYPE_CODES[options.dummyDType ?? 'BF16'], options.seed ?? 0, options.onProgress);
      } else {
        const tensors = spec.tensors.map((t) => ({
          name: t.name,
          file: t.file,
          offset: t.offset,
          byteLength: t.byteLength,
          dtypeCode: DTYPE_CODES[t.dtype],
          shape: t.shape,
        }));
        await handle.load(tensors, options.onProgress);
      }
    } catch (e) {
      handle.dispose();
      throw mapNativeError(e);
    }
    return new NativeModelRunner(spec.config, selection, handle);
  }

  private get native(): NativeModelHandle {
    if (!this.handle) throw new NativeError('the model was closed');
    return this.handle;
  }

  /** The backend's one-line description (threads and SIMD level, or the GPU). */
  describe(): string {
    return this.native.describe();
  }
  /** Measures copy bandwidth and matmul rate on this backend's device (about a second). */
  async measureCeilings(): Promise<DeviceCeilings> {
    return this.native.measureCeilings();
  }
  kvCacheBytesPerBlock(blockSize: number): number {
    return this.native.kvCacheBytesPerBlock(blockSize);
  }
  availableMemory(): number {
    return this.native.availableMemory();
  }
  /** Bytes of the weights as the device holds them (after any conversion on upload). */
  weightBytes(): number {
    return this.native.weightBytes();
  }
  initKvCache(numBlocks: number, blockSize: number): void {
    try {
      this.native.initKvCache(numBlocks, blockSize);
    } catch (e) {
      throw mapNativeError(e);
    }
  }
  async step(batch: StepBatch): Promise<StepResult> {
    try {
      return await this.native.step(batch);
    } catch (e) {
      throw mapNativeError(e);
    }
  }
  /** Frees the weights and the KV cache (after a step in flight finishes). */
  close(): void {
    this.handle?.dispose();
    this.handle = null;
  }
}
