// `pagedinfer serve`: loads a model and serves it over the OpenAI-compatible HTTP API until
// SIGINT/SIGTERM, logging JSON lines (pino) to stdout.
import path from 'node:path';

import { Command, Option } from 'commander';

import { InvalidRequestError } from '../errors.js';
import { loadModel } from '../load.js';
import { addModelOptions, loadOptions, type ModelCliOptions, parseInteger } from './common.js';
import { loadProgress } from './progress.js';

interface ServeCliOptions extends ModelCliOptions {
  host: string;
  port: number;
  apiKey?: string;
  servedModelName?: string;
  logLevel: string;
  maxBodyBytes?: number;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * A server streams to many clients at once, and every stream waits for each whole step: unlike
 * offline use, steps that carry decodes add at most this many prompt tokens unless told otherwise.
 * On the H100 (8B shape, 37 requests/s) it halved the ITL p99 of an unlimited 2048-token step at
 * the same throughput (docs/server.md).
 */
export const SERVE_PREFILL_TOKENS_WHILE_DECODING = 384;

export function serveCommand(): Command {
  const cmd = new Command('serve').description('serve a model over an OpenAI-compatible HTTP API');
  addModelOptions(cmd)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', parseInteger('--port', 0), 8000)
    .addOption(new Option('--api-key <key>', 'require "Authorization: Bearer <key>" on every route but /health').env('PAGEDINFER_API_KEY'))
    .option('--served-model-name <name>', 'the model id clients send and see (default: the --model argument, or the built-in model\'s name)')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .option('--max-body-bytes <n>', 'largest request body accepted', parseInteger('--max-body-bytes', 1))
    .action(async (o: ServeCliOptions) => {
      if (o.port > 65535) throw new InvalidRequestError(`--port must be at most 65535, got ${o.port}`);
      // Loaded here, not at the top: the other commands need none of the HTTP stack.
      const [{ pino }, { createServer, defaultModelName }] = await Promise.all([import('pino'), import('../server/index.js')]);
      const logger = pino({ level: o.logLevel });
      const progress = loadProgress('loading');
      const maxPrefillTokensWhileDecoding = o.maxPrefillTokensWhileDecoding ?? SERVE_PREFILL_TOKENS_WHILE_DECODING;
      const llm = await loadModel(o.model, { ...loadOptions(o), maxPrefillTokensWhileDecoding, onProgress: progress.onProgress });
      progress.done();
      // As vLLM: clients name the model the way the server was started with it.
      const modelName = o.servedModelName ?? (o.model ? o.model.replace(/[\\/]+$/, '') : defaultModelName(llm));
      const info = llm.info;
      logger.info(
        { model: modelName, path: path.resolve(info.source.path), backend: info.backend.name, device: info.device, kvCacheBlocks: info.kvCache.blocks, maxModelLen: llm.maxModelLen, ...info.steps, loadSeconds: info.load },
        'model loaded',
      );
      const server = createServer(llm, { modelName, apiKey: o.apiKey ?? null, logger, maxBodyBytes: o.maxBodyBytes });
      try {
        await server.listen({ host: o.host, port: o.port });
      } catch (e) {
        await llm.close();
        throw new InvalidRequestError(`cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          logger.info({ signal }, 'shutting down');
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      // Stop taking connections, end the requests in flight (their clients get an error), then
      // wait for their responses to finish.
      const closed = server.close();
      await llm.close();
      await closed;
      logger.info('stopped');
    });
  return cmd;
}
