// createServer(llm): the OpenAI-compatible HTTP server as an Express app. `handler` plugs into
// node:http (or mounts in an existing Express/Connect app); `listen()` runs it standalone.
// Every request that fails gets an OpenAI-style error and the status that fits; nothing a client
// sends reaches the process's unhandled-error paths.
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

import express, { type NextFunction, type Request, type Response } from 'express';
import { pino, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';

import type { LLM } from '../llm.js';
import { chatCompletions } from './chat.js';
import { completions } from './completions.js';
import { unixSeconds, type RouteContext } from './context.js';
import { HttpError, sendError, toHttpError } from './errors.js';
import { listenHttp, type HttpListener } from './listen.js';
import { ServerMetrics, type MetricsOptions } from './metrics.js';
import { detokenize, listModels, tokenize } from './tokens.js';

/** Largest request body accepted (413 beyond): room for a long context's worth of token ids. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 2 ** 20;

export interface ServerOptions {
  /** The model id clients send and see (default: the model file or directory name, without .gguf). */
  modelName?: string;
  /** When set, every route but /health needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string | null;
  /** Request body limit in bytes (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** A pino logger for request logs and failures (default: silent, as a library should be). */
  logger?: Logger;
  metrics?: MetricsOptions;
}

export interface ListenOptions {
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface ListeningServer {
  url: string;
  host: string;
  port: number;
  server: http.Server;
}

export interface PagedInferServer {
  /** The request handler, for http.createServer(handler) or app.use(handler). */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly metrics: ServerMetrics;
  readonly modelName: string;
  /** Starts a node:http server on the handler. */
  listen(options?: ListenOptions): Promise<ListeningServer>;
  /** Stops the servers listen() started (waiting for responses in progress) and the metrics' engine listener. The LLM stays open. */
  close(): Promise<void>;
}

export function defaultModelName(llm: LLM): string {
  return path.basename(llm.info.source.path).replace(/\.gguf$/i, '');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Bearer-token check; hashing both sides first makes the comparison constant-time whatever their lengths. */
function requireApiKey(apiKey: string) {
  const expected = sha256(apiKey);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.path === '/health') return next();
    const header = req.get('authorization');
    const match = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (match && timingSafeEqual(sha256(match[1]), expected)) return next();
    const message = header ? 'Incorrect API key provided.' : 'Missing API key: send it as "Authorization: Bearer <key>".';
    res.setHeader('WWW-Authenticate', 'Bearer');
    sendError(res, new HttpError(401, message, null, 'invalid_api_key'));
  };
}

export function createServer(llm: LLM, options: ServerOptions = {}): PagedInferServer {
  const logger = options.logger ?? pino({ level: 'silent' });
  const modelName = options.modelName ?? defaultModelName(llm);
  const ctx: RouteContext = { llm, modelName, logger, created: unixSeconds() };
  const metrics = new ServerMetrics(llm, modelName, options.metrics);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    pinoHttp({
      logger,
      // Method, path and status only: headers would carry the API key into the logs.
      serializers: {
        req: (req: IncomingMessage & { id?: unknown }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    }),
  );
  if (options.apiKey) app.use(requireApiKey(options.apiKey));

  // Any content type is read as JSON (curl -d sends form-encoded by default); bodies past the
  // limit are refused with 413 before they are buffered.
  const json = express.json({ limit: maxBody, type: () => true, strict: true });
  const route = (fn: (ctx: RouteContext, req: Request, res: Response) => unknown) => async (req: Request, res: Response) => {
    await fn(ctx, req, res);
  };

  app.get('/health', (_req, res) => {
    res.status(200).end();
  });
  app.get('/v1/models', route(listModels));
  app.post('/v1/chat/completions', json, route(chatCompletions));
  app.post('/v1/completions', json, route(completions));
  app.post('/tokenize', json, route(tokenize));
  app.post('/detokenize', json, route(detokenize));
  app.get('/metrics', async (_req, res) => {
    const { contentType, text } = await metrics.scrape();
    res.setHeader('Content-Type', contentType);
    res.send(text);
  });
  const routes: Record<string, string> = {
    '/health': 'GET',
    '/v1/models': 'GET',
    '/metrics': 'GET',
    '/v1/chat/completions': 'POST',
    '/v1/completions': 'POST',
    '/tokenize': 'POST',
    '/detokenize': 'POST',
  };
  for (const [p, method] of Object.entries(routes)) {
    app.all(p, (req, res) => {
      res.setHeader('Allow', method);
      sendError(res, new HttpError(405, `${req.method} is not allowed on ${p}: use ${method}`, null, 'method_not_allowed'));
    });
  }
  app.use((req, res) => {
    sendError(res, new HttpError(404, `no route ${req.method} ${req.path}`, null, 'not_found'));
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const error = toHttpError(err);
    if (error.status >= 500) logger.error({ err }, 'request failed');
    if (res.headersSent) {
      // A stream already under way handles its own errors; this is a last resort.
      res.end();
      return;
    }
    sendError(res, error);
  });

  const listeners = new Set<HttpListener>();
  return {
    handler: app,
    metrics,
    modelName,
    async listen(o: ListenOptions = {}) {
      const listener = await listenHttp(app, o.host ?? '127.0.0.1', o.port ?? 8000);
      listeners.add(listener);
      logger.info({ url: listener.url, model: modelName }, 'listening');
      return { url: listener.url, host: listener.host, port: listener.port, server: listener.server };
    },
    async close() {
      metrics.close();
      await Promise.all([...listeners].map((l) => l.close()));
      listeners.clear();
    },
  };
}
