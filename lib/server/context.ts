// What every route needs: the model, the name it is served under, the logger.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

import type { LLM } from '../llm.js';
import { HttpError } from './errors.js';

export interface RouteContext {
  llm: LLM;
  /** The model id clients name in requests and see in responses. */
  modelName: string;
  logger: Logger;
  /** When the server started serving the model (the `created` of /v1/models). */
  created: number;
}

/** The model field is optional (as in vLLM); when sent it must name the served model. */
export function checkModel(ctx: RouteContext, model: string | null | undefined): void {
  if (model === undefined || model === null || model === ctx.modelName) return;
  throw new HttpError(404, `The model \`${model}\` does not exist. This server serves \`${ctx.modelName}\`.`, 'model', 'model_not_found');
}

/** OpenAI-style ids: a prefix and 32 hex digits (chatcmpl-…, cmpl-…). */
export function responseId(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll('-', '')}`;
}

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
