// Reads a request's stream to the end and sorts the chunks by output index.
import type { EngineChunk, FinishReason } from '../../lib/engine/types.js';

export interface Collected {
  tokens: number[][];
  texts: string[];
  finishReasons: (FinishReason | null)[];
  stopReasons: (string | number | null)[];
  chunks: EngineChunk[];
  usage: EngineChunk['usage'];
  error: Error | null;
}

export async function collect(stream: AsyncIterable<EngineChunk>, n = 1): Promise<Collected> {
  const out: Collected = {
    tokens: Array.from({ length: n }, () => []),
    texts: new Array<string>(n).fill(''),
    finishReasons: new Array<FinishReason | null>(n).fill(null),
    stopReasons: new Array<string | number | null>(n).fill(null),
    chunks: [],
    usage: null,
    error: null,
  };
  try {
    for await (const c of stream) {
      out.chunks.push(c);
      if (out.finishReasons[c.index] !== null) throw new Error(`output ${c.index} got a chunk after it finished`);
      out.tokens[c.index].push(...c.tokenIds);
      out.texts[c.index] += c.text;
      if (c.finishReason) {
        out.finishReasons[c.index] = c.finishReason;
        out.stopReasons[c.index] = c.stopReason;
      }
      if (c.usage) {
        if (out.usage) throw new Error('usage on two chunks');
        out.usage = c.usage;
      }
    }
  } catch (e) {
    out.error = e as Error;
  }
  return out;
}
