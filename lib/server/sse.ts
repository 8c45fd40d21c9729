// Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, `data: [DONE]` last.
// Writes wait for the socket to drain, so a slow reader slows its own request instead of
// piling chunks up in memory. And a client that goes away aborts its request.
import type { ServerResponse } from 'node:http';

/** Aborted when the client disconnects before the response was sent in full. */
export function clientSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

export class SseStream {
  private closed = false;

  constructor(private readonly res: ServerResponse) {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Connection', 'keep-alive');
    // Reverse proxies (nginx) would otherwise buffer the stream.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.once('close', () => (this.closed = true));
  }

  /** The client went away: nothing more can be sent. */
  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  async send(data: unknown): Promise<void> {
    await this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream with OpenAI's sentinel. */
  async done(): Promise<void> {
    await this.write('data: [DONE]\n\n');
    if (!this.isClosed) this.res.end();
  }

  private async write(text: string): Promise<void> {
    if (this.isClosed) return;
    if (!this.res.write(text)) {
      // Resolves on drain, or when the socket closes (then the caller stops at isClosed).
      await new Promise<void>((resolve) => {
        const settle = () => {
          this.res.off('drain', settle);
          this.res.off('close', settle);
          resolve();
        };
        this.res.on('drain', settle);
        this.res.on('close', settle);
      });
    }
  }
}
