// POST /v1/completions: a text or token-id prompt (or a batch of them), answered as one
// "text_completion" object or a stream of them, field by field as OpenAI's legacy API.
import type { Request, Response } from 'express';

import { checkModel, responseId, unixSeconds, type RouteContext } from './context.js';
import { HttpError, toHttpError } from './errors.js';
import { collectChoices, startGeneration, UsageTotals, type Generation, type Usage } from './generation.js';
import { completionLogprobs, TokenStrings } from './logprobs.js';
import { completionPrompts, type CompletionPrompt } from './prompts.js';
import { completionSampling } from './sampling.js';
import { completionRequest } from './schemas.js';
import { clientSignal, SseStream } from './sse.js';
import { abortedError, streamFailed } from './stream-errors.js';

export async function completions(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const body = completionRequest.parse(req.body);
  checkModel(ctx, body.model);
  const { params, names } = completionSampling(body);
  const prompts = completionPrompts(ctx.llm.tokenizer, body.prompt, body.add_special_tokens ?? true);
  const id = responseId('cmpl');
  const signal = clientSignal(res);
  let gen: Generation;
  try {
    gen = startGeneration(
      ctx.llm,
      prompts.map((p) => p.tokenIds),
      params,
      { signal, requestId: id },
    );
  } catch (e) {
    throw toHttpError(e, names);
  }
  const created = unixSeconds();
  // Field order as OpenAI's: id, object, created, model.
  const head = () => ({ id, object: 'text_completion', created, model: ctx.modelName });
  const wantLogprobs = params.logprobs !== null;
  // Choice k belongs to prompt floor(k / n).
  const promptOf = (choice: number) => prompts[Math.floor(choice / gen.n)];
  const strings = () => Array.from({ length: gen.numChoices }, (_, k) => new TokenStrings(ctx.llm.tokenizer, promptOf(k).tokenIds));

  if (body.stream) {
    await streamCompletions(ctx, res, gen, head, {
      wantLogprobs,
      includeUsage: body.stream_options?.include_usage === true,
      echo: body.echo === true,
      promptOf,
      strings: strings(),
    });
    return;
  }
  const { choices, usage } = await collectChoices(gen);
  if (signal.aborted) return;  // the client left: nobody to answer
  if (choices.some((c) => c.finishReason === 'abort')) throw abortedError();
  const tokenStrings = strings();
  res.json({
    ...head(),
    choices: choices.map((c, index) => {
      const prefix = body.echo ? promptOf(index).text() : '';
      return {
        index,
        text: prefix + c.text,
        logprobs: wantLogprobs ? completionLogprobs(tokenStrings[index], c.logprobs, prefix.length) : null,
        finish_reason: c.finishReason,
        stop_reason: c.stopReason,
      };
    }),
    usage: usage.toJSON(),
    system_fingerprint: null,
  });
}

interface StreamOptions {
  wantLogprobs: boolean;
  includeUsage: boolean;
  echo: boolean;
  promptOf: (choice: number) => CompletionPrompt;
  strings: TokenStrings[];
}

async function streamCompletions(
  ctx: RouteContext,
  res: Response,
  gen: Generation,
  head: () => Record<string, unknown>,
  o: StreamOptions,
): Promise<void> {
  const sse = new SseStream(res);
  const usageField = o.includeUsage ? { usage: null as Usage | null } : {};
  const event = (choice: Record<string, unknown>) => ({ ...head(), choices: [choice], ...usageField });
  // Characters sent so far per choice: where the next logprobs' text_offset starts.
  const sent = new Array<number>(gen.numChoices).fill(0);
  const totals = new UsageTotals();
  try {
    if (o.echo) {
      for (let index = 0; index < gen.numChoices; index++) {
        const text = o.promptOf(index).text();
        sent[index] = text.length;
        await sse.send(event({ index, text, logprobs: null, finish_reason: null }));
      }
    }
    for await (const { choice, chunk: c } of gen.chunks) {
      if (sse.isClosed) break;
      totals.add(c.usage);
      if (c.finishReason === 'abort') throw abortedError();
      const logprobs = o.wantLogprobs && c.logprobs ? completionLogprobs(o.strings[choice], c.logprobs, sent[choice]) : null;
      if (c.text === '' && c.finishReason === null && logprobs === null) continue;
      sent[choice] += c.text.length;
      const finished = c.finishReason !== null;
      await sse.send(
        event({ index: choice, text: c.text, logprobs, finish_reason: c.finishReason, ...(finished ? { stop_reason: c.stopReason } : {}) }),
      );
    }
    if (o.includeUsage && !sse.isClosed) await sse.send({ ...head(), choices: [], usage: totals.toJSON() });
  } catch (e) {
    await streamFailed(ctx, sse, e instanceof HttpError ? e : toHttpError(e));
  } finally {
    await gen.chunks.return(undefined);
  }
  await sse.done();
}
