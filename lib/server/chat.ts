// POST /v1/chat/completions: messages through the chat template, then one response (object
// "chat.completion") or a stream of "chat.completion.chunk" events, field by field as OpenAI.
import type { Request, Response } from 'express';

import { checkModel, responseId, unixSeconds, type RouteContext } from './context.js';
import { HttpError, toHttpError } from './errors.js';
import { collectChoices, startGeneration, UsageTotals, type Generation, type Usage } from './generation.js';
import { chatLogprobs, TokenStrings } from './logprobs.js';
import { chatPromptIds } from './prompts.js';
import { chatSampling } from './sampling.js';
import { chatCompletionRequest } from './schemas.js';
import { clientSignal, SseStream } from './sse.js';
import { abortedError, streamFailed } from './stream-errors.js';

export async function chatCompletions(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const body = chatCompletionRequest.parse(req.body);
  checkModel(ctx, body.model);
  const { params, names } = chatSampling(body);
  const promptIds = chatPromptIds(ctx.llm.tokenizer, body.messages, {
    addGenerationPrompt: body.add_generation_prompt,
    continueFinalMessage: body.continue_final_message,
    chatTemplateKwargs: body.chat_template_kwargs,
  });
  const id = responseId('chatcmpl');
  const signal = clientSignal(res);
  let gen: Generation;
  try {
    gen = startGeneration(ctx.llm, [promptIds], params, { signal, requestId: id });
  } catch (e) {
    throw toHttpError(e, names);
  }
  const created = unixSeconds();
  // Field order as OpenAI's: id, object, created, model.
  const head = (object: string) => ({ id, object, created, model: ctx.modelName });
  const wantLogprobs = params.logprobs !== null;
  const strings = () => Array.from({ length: gen.numChoices }, () => new TokenStrings(ctx.llm.tokenizer, promptIds));

  if (body.stream) {
    await streamChat(ctx, res, gen, head, { wantLogprobs, includeUsage: body.stream_options?.include_usage === true, strings: strings() });
    return;
  }
  const { choices, usage } = await collectChoices(gen);
  if (signal.aborted) return;  // the client left: nobody to answer
  if (choices.some((c) => c.finishReason === 'abort')) throw abortedError();
  const tokenStrings = strings();
  res.json({
    ...head('chat.completion'),
    choices: choices.map((c, index) => ({
      index,
      message: { role: 'assistant', content: c.text, refusal: null },
      logprobs: wantLogprobs ? { content: chatLogprobs(tokenStrings[index], c.logprobs) } : null,
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
    })),
    usage: usage.toJSON(),
    system_fingerprint: null,
  });
}

interface StreamOptions {
  wantLogprobs: boolean;
  includeUsage: boolean;
  strings: TokenStrings[];
}

async function streamChat(
  ctx: RouteContext,
  res: Response,
  gen: Generation,
  head: (object: string) => Record<string, unknown>,
  o: StreamOptions,
): Promise<void> {
  const sse = new SseStream(res);
  // With include_usage, every chunk carries usage: null and one last chunk (no choices) the totals.
  const usageField = o.includeUsage ? { usage: null as Usage | null } : {};
  const chunk = (choices: unknown[]) => ({ ...head('chat.completion.chunk'), choices, ...usageField });
  try {
    // OpenAI opens each choice with the assistant role and empty content.
    for (let index = 0; index < gen.numChoices; index++)
      await sse.send(chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
    const totals = new UsageTotals();
    for await (const { choice, chunk: c } of gen.chunks) {
      if (sse.isClosed) break;
      totals.add(c.usage);
      if (c.finishReason === 'abort') throw abortedError();
      const logprobs = o.wantLogprobs && c.logprobs ? { content: chatLogprobs(o.strings[choice], c.logprobs) } : null;
      // A token whose text is held back (half a character, a possible stop string) adds nothing yet.
      if (c.text === '' && c.finishReason === null && logprobs === null) continue;
      const finished = c.finishReason !== null;
      await sse.send(
        chunk([
          {
            index: choice,
            delta: c.text === '' ? {} : { content: c.text },
            logprobs,
            finish_reason: c.finishReason,
            ...(finished ? { stop_reason: c.stopReason } : {}),
          },
        ]),
      );
    }
    if (o.includeUsage && !sse.isClosed) await sse.send({ ...head('chat.completion.chunk'), choices: [], usage: totals.toJSON() });
  } catch (e) {
    await streamFailed(ctx, sse, e instanceof HttpError ? e : toHttpError(e));
  } finally {
    // Leaving the loop early (client gone, error) cancels the engine requests.
    await gen.chunks.return(undefined);
  }
  await sse.done();
}
