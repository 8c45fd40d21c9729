// The OpenAI-compatible server: createServer(llm, options) and what it returns.
export {
  createServer,
  defaultModelName,
  DEFAULT_MAX_BODY_BYTES,
  type ServerOptions,
  type ListenOptions,
  type ListeningServer,
  type PagedInferServer,
} from './server.js';
export { ServerMetrics, type MetricsOptions } from './metrics.js';
