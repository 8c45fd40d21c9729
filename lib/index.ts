// The public API. (The engine's loadModel / generate join here as they land.)
export { formatRuntimeInfo, getRuntimeInfo } from './runtime-info.js';
export type { CpuInfo, GpuInfo, RuntimeInfo } from './runtime-info.js';
export type { BackendName, BackendRequest } from './addon/types.js';
export * from './errors.js';
