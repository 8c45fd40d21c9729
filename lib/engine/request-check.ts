// A request's checks before it is queued: prompt ids inside the vocabulary, prompt + maxTokens
// inside the context and the whole KV cache, stop strings only with a tokenizer. Each failure is a
// typed error naming the field.
import { CapacityError, InvalidRequestError } from '../errors.js';
import type { SamplingParams } from '../sampling/params.js';
import type { ResolvedEngineOptions } from './engine-options.js';
import type { GenerateInput } from './types.js';

export function checkRequest(
  input: GenerateInput,
  params: SamplingParams,
  vocab: number,
  limits: Pick<ResolvedEngineOptions, 'maxModelLen' | 'blockSize' | 'numBlocks'>,
  hasTokenizer: boolean,
): Int32Array {
  const ids = input?.promptTokenIds;
  if (!Array.isArray(ids) || ids.length === 0) throw new InvalidRequestError('promptTokenIds must be a non-empty array of token ids', 'prompt');
  const prompt = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (!Number.isInteger(t) || t < 0 || t >= vocab)
      throw new InvalidRequestError(`prompt token ${i} is ${JSON.stringify(t)}, not a token id below the vocabulary size ${vocab}`, 'prompt');
    prompt[i] = t;
  }
  const { maxModelLen, blockSize, numBlocks } = limits;
  if (prompt.length + params.maxTokens > maxModelLen)
    throw new InvalidRequestError(
      `the prompt (${prompt.length} tokens) plus maxTokens (${params.maxTokens}) exceeds the context of ${maxModelLen} tokens: shorten the prompt or lower maxTokens`,
      prompt.length >= maxModelLen ? 'prompt' : 'maxTokens',
    );
  const blocks = Math.ceil((prompt.length + params.maxTokens) / blockSize);
  if (blocks > numBlocks)
    throw new CapacityError(
      `the prompt (${prompt.length} tokens) plus maxTokens (${params.maxTokens}) needs ${blocks} KV blocks of ${blockSize} tokens, ` +
        `but the whole KV cache has ${numBlocks}: lower maxTokens, shorten the prompt, or give the engine a larger kvCacheBytes`,
    );
  if (params.stop.length > 0 && !hasTokenizer)
    throw new InvalidRequestError('stop strings need a tokenizer, and this engine has none: use stopTokenIds', 'stop');
  return prompt;
}
