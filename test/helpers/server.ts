// A real pagedinfer server on a loopback port (port 0: any free one) over a real model, and small
// readers for what it answers (JSON, server-sent events).
import { loadModel, type LLM, type LoadModelOptions } from '../../lib/index.js';
import { createServer, type PagedInferServer, type ServerOptions } from '../../lib/server/index.js';

export interface TestServer {
  llm: LLM;
  server: PagedInferServer;
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/** The built-in model unless `model` names another; a modest KV cache keeps memory small. */
export async function startServer(
  options: ServerOptions & { model?: string; load?: LoadModelOptions } = {},
): Promise<TestServer> {
  const { model, load, ...serverOptions } = options;
  const llm = await loadModel(model, { backend: 'cpu', kvCacheBytes: 64 * 2 ** 20, ...load });
  const server = createServer(llm, serverOptions);
  const { url } = await server.listen({ port: 0 });
  return {
    llm,
    server,
    url,
    async close() {
      await server.close();
      await llm.close();
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers };
}

/** The `data:` payloads of an SSE body, in order ('[DONE]' kept as the string). */
export function sseEvents(body: string): unknown[] {
  const events: unknown[] = [];
  for (const block of body.split('\n\n')) {
    if (block.trim() === '') continue;
    if (!block.startsWith('data: ')) throw new Error(`not an SSE data event: ${JSON.stringify(block)}`);
    const data = block.slice('data: '.length);
    events.push(data === '[DONE]' ? data : JSON.parse(data));
  }
  return events;
}

/** Polls until `check` holds, or fails after `ms`. */
export async function waitFor(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
