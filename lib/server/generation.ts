// Runs a request's prompts on the engine and reads their streams as one: a completions request
// may carry a batch of prompts, each with n outputs, and OpenAI numbers the choices
// prompt * n + output. Closing the merged stream (the client left) cancels every request in it,
// which frees their KV blocks.
import type { FinishReason, TokenLogprob } from '../engine/types.js';
import type { GenerationChunk, LLM } from '../llm.js';
import type { SamplingParamsInput } from '../sampling/params.js';

export interface ChoiceChunk {
  /** prompt * n + the output's index. */
  choice: number;
  prompt: number;
  chunk: GenerationChunk;
}

export interface Generation {
  n: number;
  numChoices: number;
  chunks: AsyncGenerator<ChoiceChunk>;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export class UsageTotals {
  private promptTokens = 0;
  private completionTokens = 0;
  private cachedTokens = 0;

  add(usage: GenerationChunk['usage']): void {
    if (!usage) return;
    this.promptTokens += usage.promptTokens;
    this.completionTokens += usage.completionTokens;
    this.cachedTokens += usage.cachedPromptTokens;
  }

  toJSON(): Usage {
    return {
      prompt_tokens: this.promptTokens,
      completion_tokens: this.completionTokens,
      total_tokens: this.promptTokens + this.completionTokens,
      prompt_tokens_details: { cached_tokens: this.cachedTokens },
    };
  }
}

/**
 * Starts one engine request per prompt. Every prompt's parameters are checked before any starts,
 * so a bad prompt in a batch fails the whole request with nothing left running.
 */
export function startGeneration(
  llm: LLM,
  prompts: number[][],
  params: SamplingParamsInput,
  options: { signal: AbortSignal; requestId: string },
): Generation {
  let n = 1;
  for (const ids of prompts) n = llm.samplingParams(params, ids.length).n;
  const streams: AsyncIterator<GenerationChunk>[] = [];
  try {
    prompts.forEach((ids, i) => {
      const requestId = prompts.length > 1 ? `${options.requestId}-${i}` : options.requestId;
      streams.push(llm.generate({ promptTokenIds: ids }, params, { signal: options.signal, requestId })[Symbol.asyncIterator]());
    });
  } catch (e) {
    for (const s of streams) void s.return?.();
    throw e;
  }
  return { n, numChoices: n * prompts.length, chunks: merge(streams, n) };
}

type Pulled<T> = { i: number; result: IteratorResult<T> } | { i: number; error: unknown };

async function* merge(streams: AsyncIterator<GenerationChunk>[], n: number): AsyncGenerator<ChoiceChunk> {
  const pending = new Map<number, Promise<Pulled<GenerationChunk>>>();
  // Each pull settles as a value, never a rejection: a stream failing while another one is being
  // awaited must not become an unhandled rejection.
  const pull = (i: number) =>
    pending.set(
      i,
      streams[i].next().then(
        (result) => ({ i, result }),
        (error: unknown) => ({ i, error }),
      ),
    );
  streams.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const got = await Promise.race(pending.values());
      if ('error' in got) throw got.error;
      if (got.result.done) {
        pending.delete(got.i);
        continue;
      }
      pull(got.i);
      const chunk = got.result.value;
      yield { choice: got.i * n + chunk.index, prompt: got.i, chunk };
    }
  } finally {
    // Ends whatever still runs (a no-op for finished streams): on a client's disconnect, an error
    // in one of the prompts, or a consumer that stops reading.
    await Promise.all(streams.map((s) => s.return?.()));
  }
}

export interface ChoiceResult {
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[];
  finishReason: FinishReason | null;
  stopReason: string | number | null;
}

/** Reads a generation to its end (non-streaming responses). */
export async function collectChoices(gen: Generation): Promise<{ choices: ChoiceResult[]; usage: UsageTotals }> {
  const choices: ChoiceResult[] = Array.from({ length: gen.numChoices }, () => ({
    text: '',
    tokenIds: [],
    logprobs: [],
    finishReason: null,
    stopReason: null,
  }));
  const usage = new UsageTotals();
  for await (const { choice, chunk } of gen.chunks) {
    const c = choices[choice];
    c.text += chunk.text;
    c.tokenIds.push(...chunk.tokenIds);
    if (chunk.logprobs) c.logprobs.push(...chunk.logprobs);
    if (chunk.finishReason) {
      c.finishReason = chunk.finishReason;
      c.stopReason = chunk.stopReason;
    }
    usage.add(chunk.usage);
  }
  return { choices, usage };
}
