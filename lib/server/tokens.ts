// vLLM's POST /tokenize and /detokenize, and GET /v1/models: the shapes vLLM's clients expect.
import type { Request, Response } from 'express';

import { checkModel, type RouteContext } from './context.js';
import { HttpError } from './errors.js';
import { chatPromptIds, requireTokenizer } from './prompts.js';
import { detokenizeRequest, tokenizeChatRequest, tokenizePromptRequest } from './schemas.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** {prompt} → {count, max_model_len, tokens, token_strs}; {messages} renders the chat template first. */
export function tokenize(ctx: RouteContext, req: Request, res: Response): void {
  const body: unknown = req.body;
  const tokenizer = requireTokenizer(ctx.llm.tokenizer, 'prompt');
  let tokens: number[];
  let returnTokenStrs: boolean;
  if (isObject(body) && 'messages' in body) {
    const chat = tokenizeChatRequest.parse(body);
    checkModel(ctx, chat.model);
    tokens = chatPromptIds(tokenizer, chat.messages, {
      addGenerationPrompt: chat.add_generation_prompt,
      continueFinalMessage: chat.continue_final_message,
      chatTemplateKwargs: chat.chat_template_kwargs,
      addSpecialTokens: chat.add_special_tokens,
    });
    returnTokenStrs = chat.return_token_strs === true;
  } else {
    const plain = tokenizePromptRequest.parse(body);
    checkModel(ctx, plain.model);
    tokens = tokenizer.encode(plain.prompt, { addSpecialTokens: plain.add_special_tokens ?? true });
    returnTokenStrs = plain.return_token_strs === true;
  }
  res.json({
    count: tokens.length,
    max_model_len: ctx.llm.maxModelLen,
    tokens,
    token_strs: returnTokenStrs ? tokens.map((t) => tokenizer.idToToken(t) ?? '') : null,
  });
}

/** {tokens} → {prompt}: the text of token ids. */
export function detokenize(ctx: RouteContext, req: Request, res: Response): void {
  const body = detokenizeRequest.parse(req.body);
  checkModel(ctx, body.model);
  const tokenizer = requireTokenizer(ctx.llm.tokenizer, 'tokens');
  const vocab = ctx.llm.config.vocabSize;
  const bad = body.tokens.findIndex((t) => t < 0 || t >= vocab);
  if (bad >= 0) throw new HttpError(400, `tokens.${bad}: ${body.tokens[bad]} is not a token id of this model (0 to ${vocab - 1})`, 'tokens');
  res.json({ prompt: tokenizer.decode(body.tokens) });
}

export function listModels(ctx: RouteContext, _req: Request, res: Response): void {
  res.json({
    object: 'list',
    data: [
      {
        id: ctx.modelName,
        object: 'model',
        created: ctx.created,
        owned_by: 'pagedinfer',
        root: ctx.llm.info.source.path,
        parent: null,
        max_model_len: ctx.llm.maxModelLen,
      },
    ],
  });
}
