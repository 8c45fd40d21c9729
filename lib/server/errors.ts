// HTTP errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}}. Every failure
// a request can meet (a library error, a body-parser error, a schema error, a bug) maps to one
// status and one such body here, so routes only throw.
import type { Response } from 'express';
import { ZodError } from 'zod';

import { AbortError, CapacityError, InvalidRequestError, NativeError, PagedInferError } from '../errors.js';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** OpenAI's error type: invalid_request_error for the client's mistakes, server_error for ours. */
    readonly type: string = status < 500 ? 'invalid_request_error' : 'server_error',
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/**
 * The library names parameters in camelCase (maxTokens); HTTP clients sent snake_case
 * (max_tokens, or top_logprobs for chat's logprobs). Routes pass how their fields map back, so
 * an error names the field the client actually sent.
 */
export type ParamNames = Record<string, string>;

const DEFAULT_PARAM_NAMES: ParamNames = {
  maxTokens: 'max_tokens',
  topK: 'top_k',
  topP: 'top_p',
  minP: 'min_p',
  repetitionPenalty: 'repetition_penalty',
  presencePenalty: 'presence_penalty',
  frequencyPenalty: 'frequency_penalty',
  stopTokenIds: 'stop_token_ids',
  ignoreEos: 'ignore_eos',
  skipSpecialTokens: 'skip_special_tokens',
  promptTokenIds: 'prompt',
};

function renameParams(message: string, param: string | undefined, names: ParamNames): { message: string; param: string | null } {
  const all = { ...DEFAULT_PARAM_NAMES, ...names };
  let text = message;
  for (const [camel, snake] of Object.entries(all)) {
    if (camel === snake) continue;
    // A camelCase name is a parameter wherever it appears; a plain word ("prompt", "logprobs")
    // only where the message starts with it, as in "logprobs must be ...".
    if (/[A-Z]/.test(camel)) text = text.replace(new RegExp(`\\b${camel}\\b`, 'g'), snake);
    else if (text.startsWith(`${camel} `)) text = snake + text.slice(camel.length);
  }
  return { message: text, param: param === undefined ? null : (all[param] ?? param) };
}

/** body-parser's errors carry `type` and `status`; their messages are fine to show. */
interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

export function toHttpError(e: unknown, names: ParamNames = {}): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof ZodError) {
    const issue = e.issues[0];
    const path = issue.path.map(String).join('.');
    if (path === '') return new HttpError(400, `the request body must be a JSON object (${issue.message.toLowerCase()})`);
    if (/received undefined$/.test(issue.message)) return new HttpError(400, `${path} is required`, path);
    return new HttpError(400, issue.message.startsWith(path) ? issue.message : `${path}: ${issue.message}`, path);
  }
  if (e instanceof InvalidRequestError) {
    const renamed = renameParams(e.message, e.param, names);
    return new HttpError(400, renamed.message, renamed.param);
  }
  // The KV cache cannot hold the request (or the engine is overloaded): the server's limit, not a
  // malformed request; vLLM answers such requests with 503 too.
  if (e instanceof CapacityError) return new HttpError(503, e.message, null, 'capacity_exceeded');
  if (e instanceof AbortError) return new HttpError(503, e.message, null, 'aborted');
  if (e instanceof NativeError) return new HttpError(500, e.message, null, 'native_error');
  if (e instanceof PagedInferError) return new HttpError(500, e.message, null, e.code);
  const bp = e as BodyParserError;
  if (bp && typeof bp.type === 'string' && typeof bp.status === 'number') {
    switch (bp.type) {
      case 'entity.too.large':
        return new HttpError(413, `the request body is larger than the server's limit of ${bp.limit} bytes`, null, 'request_too_large');
      case 'entity.parse.failed':
        return new HttpError(400, `the request body is not valid JSON: ${bp.message}`, null, 'invalid_json');
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return new HttpError(415, bp.message, null, 'unsupported_media_type');
      default:
        if (bp.status >= 400 && bp.status < 500) return new HttpError(bp.status, bp.message);
    }
  }
  const message = e instanceof Error ? e.message : String(e);
  return new HttpError(500, `internal server error: ${message}`, null, 'internal_error');
}

export function sendError(res: Response, error: HttpError): void {
  res.status(error.status).json(error.body());
}
