// pagedinfer's public API.
export { loadModel, readModelSource, type LoadModelOptions, type ModelSource } from './load.js';
export { LLM, type Prompt, type GenerationChunk, type GenerationOutput, type GenerationResult, type ModelInfo, type LoadTimes } from './llm.js';
export type { SamplingParamsInput, SamplingParams } from './sampling/params.js';
export type { ChatMessage, Tokenizer } from './tokenizer/types.js';
export type { EngineOptions, EngineStats, EngineChunk, FinishReason, TokenLogprob, RequestTimings, FinishedRequest } from './engine/types.js';
export type { ModelConfig, ModelSpec } from './model/types.js';
export { selectBackend, type BackendName, type BackendRequest, type BackendSelection, type DeviceCeilings } from './native.js';
export { formatRuntimeInfo, getRuntimeInfo, type CpuInfo, type GpuInfo, type RuntimeInfo } from './runtime-info.js';
export {
  PagedInferError,
  ModelLoadError,
  UnsupportedArchitectureError,
  InvalidRequestError,
  CapacityError,
  NativeError,
  AbortError,
} from './errors.js';
export {
  createServer,
  defaultModelName,
  DEFAULT_MAX_BODY_BYTES,
  ServerMetrics,
  type ServerOptions,
  type ListenOptions,
  type ListeningServer,
  type PagedInferServer,
  type MetricsOptions,
} from './server/index.js';
