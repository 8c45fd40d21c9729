// getRuntimeInfo(): which addon this process runs on and why, the GPU and CUDA libraries the CUDA
// addon found, and the SIMD level of the CPU kernels. `pagedinfer info` prints it; programs log it.
import { loadAddon } from './addon/load.js';
import type { AddonSource } from './addon/locate.js';
import { type CudaAddonState, type RequestedBy, selectBackend } from './addon/select.js';
import type { AddonBackendInfo, BackendName, BackendRequest } from './addon/types.js';
import { packageRoot, packageVersion } from './package-root.js';

export interface GpuInfo {
  name: string;
  computeCapability?: string;
  memoryBytes?: number;
  driverVersion?: string;
  cudaRuntimeVersion?: string;
  /** The cuBLASLt library the CUDA addon opened at run time. */
  cublasLt?: string;
}

export interface CpuInfo {
  /** The instruction set of the CPU kernels in use: avx512, avx2 or baseline. */
  simd: string;
  cores: number;
}

export interface RuntimeInfo {
  backend: BackendName;
  /** One line: why this backend (GPU found / no usable GPU and why / forced by the option or PAGEDINFER_BACKEND). */
  reason: string;
  requested: BackendRequest;
  requestedBy: RequestedBy;
  addon: { path: string; source: AddonSource };
  /** Files of that addon tried before it that did not load, and why. */
  skipped: { path: string; source: AddonSource; error: string }[];
  /** The GPU, when the CUDA addon runs or saw one. */
  gpu?: GpuInfo;
  /** The CPU kernels, when the CPU addon is present (it is in every installation). */
  cpu?: CpuInfo;
  cudaAddon: CudaAddonState;
  /** What the loaded addon reported, as is. */
  details: AddonBackendInfo;
  package: { version: string; root: string };
  platform: string;
  node: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;
}

function gpuFrom(info: AddonBackendInfo): GpuInfo | undefined {
  const name = str(info.device);
  if (!name) return undefined;
  return {
    name,
    computeCapability: str(info.computeCapability),
    memoryBytes: typeof info.memoryBytes === 'number' ? info.memoryBytes : undefined,
    driverVersion: str(info.driverVersion),
    cudaRuntimeVersion: str(info.runtimeVersion),
    cublasLt: str(info.cublasLt),
  };
}

function cpuFrom(info: AddonBackendInfo): CpuInfo {
  return { simd: str(info.simd) ?? 'unknown', cores: typeof info.cores === 'number' ? info.cores : 0 };
}

/**
 * Loads the addon the given `backend` (default: PAGEDINFER_BACKEND, else auto) selects, and says
 * what it is. Throws the same NativeError a model load would when no addon can run.
 */
export function getRuntimeInfo(options: { backend?: BackendRequest } = {}): RuntimeInfo {
  const { selection } = selectBackend(options.backend);
  let cpu: CpuInfo | undefined;
  if (selection.name === 'cpu') cpu = cpuFrom(selection.info);
  else {
    const r = loadAddon('cpu', packageRoot());
    if (r.ok) cpu = cpuFrom(r.addon.backendInfo());
  }
  const gpuInfo = selection.name === 'cuda' ? selection.info : selection.cuda.state === 'no usable GPU' ? selection.cuda.info : undefined;
  return {
    backend: selection.name,
    reason: selection.reason,
    requested: selection.requested,
    requestedBy: selection.requestedBy,
    addon: { path: selection.addonPath, source: selection.addonSource },
    skipped: selection.skipped.map((p) => ({ path: p.file, source: p.source, error: p.error })),
    gpu: gpuInfo ? gpuFrom(gpuInfo) : undefined,
    cpu,
    cudaAddon: selection.cuda,
    details: selection.info,
    package: { version: packageVersion(), root: packageRoot() },
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
  };
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function cudaLine(state: CudaAddonState): string {
  switch (state.state) {
    case 'selected':
      return 'loaded, in use';
    case 'not tried':
      return 'not tried (the CPU backend was forced)';
    case 'not found':
      return 'not in this installation';
    case 'failed to load':
      return `failed to load: ${state.error}`;
    case 'no usable GPU':
      return `loaded, no usable GPU: ${state.reason}`;
  }
}

/** The report as [label, value] rows: backend and why, the addon file, the CUDA addon, GPU, CPU kernels. */
export function runtimeInfoRows(info: RuntimeInfo): [string, string][] {
  const rows: [string, string][] = [
    ['backend', `${info.backend} (${info.reason})`],
    ['addon', `${info.addon.path} (${info.addon.source})`],
    ...info.skipped.map((p): [string, string] => ['skipped', `${p.path} (${p.source}): ${p.error}`]),
    ['CUDA addon', cudaLine(info.cudaAddon)],
  ];
  if (info.gpu) {
    const g = info.gpu;
    const extra = [g.computeCapability && `compute ${g.computeCapability}`, g.memoryBytes && gib(g.memoryBytes)].filter(Boolean);
    rows.push(['GPU', extra.length ? `${g.name} (${extra.join(', ')})` : g.name]);
    if (g.driverVersion) rows.push(['driver', g.driverVersion]);
    if (g.cudaRuntimeVersion) rows.push(['CUDA runtime', `${g.cudaRuntimeVersion} (linked statically)`]);
    rows.push(['cuBLASLt', g.cublasLt ?? 'not found']);
  }
  if (info.cpu) rows.push(['CPU kernels', `${info.cpu.simd}, ${info.cpu.cores} cores`]);
  return rows;
}

/** The report as text, one "label: value" line each, headed by pagedinfer's version and platform. */
export function formatRuntimeInfo(info: RuntimeInfo): string {
  const rows: [string, string][] = [['pagedinfer', `${info.package.version} (${info.platform}, Node.js ${info.node})`], ...runtimeInfoRows(info)];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n');
}
