// The native model of the chosen addon (lib/addon/select.ts: CUDA when a GPU is usable, else CPU),
// wrapped as the engine's ModelRunner. The runner keeps the selection, so which addon runs, and
// why, is always at hand.
import { type BackendSelection, selectBackend } from './addon/select.js';
import type { BackendRequest, DeviceCeilings, NativeModelHandle } from './addon/types.js';
import type { ModelRunner } from './engine/types.js';
import type { StepBatch, StepResult } from './engine/step-batch.js';
import { CapacityError, ModelLoadError, NativeError, PagedInferError } from './errors.js';
import { DTYPE_CODES, type ModelConfig, type ModelSpec, type WeightDType } from './model/types.js';

export type { BackendName, BackendRequest, DeviceCeilings } from './addon/types.js';
export type { BackendSelection } from './addon/select.js';
export { selectBackend } from './addon/select.js';

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
  /** 'auto' (default: CUDA when a GPU is usable, else CPU), 'cpu' or 'cuda'; PAGEDINFER_BACKEND also sets it. */
  backend?: BackendRequest;
  /** CPU threads (default: one per core). */
  threads?: number;
  /** Weight loading progress, a fraction in [0, 1]. */
  onProgress?: (fraction: number) => void;
  /** 'dummy': random weights of the model's shapes (a preset name or a config.json), made on the device, for benchmarks. */
  loadFormat?: 'auto' | 'dummy';
  /** Weight type of dummy weights (default BF16). */
  dummyDType?: WeightDType;
  /** Seed of dummy weights (default 0). */
  seed?: number;
}

/** The native model of one backend, as the engine drives it. */
export class NativeModelRunner implements ModelRunner {
  readonly config: ModelConfig;
  readonly backend: BackendSelection;
  readonly supportsChainedTokens = true;
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
  /** The GPU's whole memory, as its addon reports it (undefined on the CPU). */
  totalMemory(): number | undefined {
    const total = this.backend.info.totalMemory;
    return typeof total === 'number' && total > 0 ? total : undefined;
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
  /** Allocates the activations of the largest step now, before the KV cache takes the memory left. */
  reserveWorkspace(tokens: number, logitRows: number): void {
    try {
      this.native.reserveWorkspace(tokens, logitRows);
    } catch (e) {
      throw mapNativeError(e);
    }
  }
  /** A step of each token-count and batch bucket (the CUDA backend's GEMM algorithm choice); nothing on the CPU. */
  async warmup(maxTokens: number, maxSeqs: number): Promise<void> {
    try {
      await this.native.warmup(maxTokens, maxSeqs);
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
  /** Frees the weights and the KV cache (after the steps in flight finish). */
  close(): void {
    this.handle?.dispose();
    this.handle = null;
  }
}
