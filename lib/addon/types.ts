// What a native addon (pagedinfer_cpu.node, pagedinfer_cuda.node) exports, as the TypeScript side
// sees it. native/addon/addon.cpp is the other half; ADDON_ABI_VERSION moves with it.
import type { StepBatch, StepResult } from '../engine/step-batch.js';

export type BackendName = 'cpu' | 'cuda';
export type BackendRequest = 'auto' | BackendName;
export const BACKEND_NAMES: readonly BackendName[] = ['cpu', 'cuda'];

/** native/addon/addon.cpp's `abiVersion`: an addon built from other native sources is refused. */
export const ADDON_ABI_VERSION = 2;

export interface NativeModelHandle {
  load(tensors: unknown[], onProgress?: (fraction: number) => void): Promise<void>;
  loadDummy(dtypeCode: number, seed: number, onProgress?: (fraction: number) => void): Promise<void>;
  kvCacheBytesPerBlock(blockSize: number): number;
  initKvCache(numBlocks: number, blockSize: number): void;
  reserveWorkspace(tokens: number, logitRows: number): void;
  availableMemory(): number;
  weightBytes(): number;
  step(batch: StepBatch): Promise<StepResult>;
  describe(): string;
  measureCeilings(): Promise<DeviceCeilings>;
  warmup(maxTokens: number, maxSeqs: number): Promise<void>;
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

/**
 * An addon's report on its device. The CPU addon: { name: 'cpu', available: true, simd, cores }.
 * The CUDA addon: { name: 'cuda', available, reason (when not available), device, computeCapability,
 * memoryBytes, driverVersion, runtimeVersion, cublasLt (the library it opened) }; other keys pass through.
 */
export interface AddonBackendInfo extends Record<string, unknown> {
  name: string;
  available?: boolean;
  reason?: string;
}

export interface NativeAddon {
  NativeModel: new (options: { config: Record<string, unknown>; threads?: number; device?: number }) => NativeModelHandle;
  backendInfo(): AddonBackendInfo;
  abiVersion: number;
}
