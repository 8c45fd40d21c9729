// What a request that fails after its response started gets: a stream cannot change its status
// any more, so (as vLLM does) the error goes out as one more event, {"error": {...}}, before
// [DONE]; the official clients raise it as an APIError.
import type { RouteContext } from './context.js';
import { HttpError } from './errors.js';
import type { SseStream } from './sse.js';

/** A request ended by the engine rather than by the client: the server is shutting down. */
export function abortedError(): HttpError {
  return new HttpError(503, 'the request was aborted: the server is shutting down', null, 'aborted');
}

export async function streamFailed(ctx: RouteContext, sse: SseStream, error: HttpError): Promise<void> {
  if (error.status >= 500) ctx.logger.error({ err: error }, 'streamed request failed');
  await sse.send(error.body());
}
