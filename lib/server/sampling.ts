// OpenAI / vLLM request fields → the library's sampling parameters, and the names to report
// errors under. Fields the engine cannot honour are refused with a 400 rather than ignored: a
// client that asks for logit_bias and silently gets none is worse off than one told no.
import type { SamplingParamsInput } from '../sampling/params.js';
import { HttpError, type ParamNames } from './errors.js';
import type { ChatCompletionRequest, CompletionRequest } from './schemas.js';

type Common = Pick<
  ChatCompletionRequest,
  | 'n'
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'min_p'
  | 'presence_penalty'
  | 'frequency_penalty'
  | 'repetition_penalty'
  | 'seed'
  | 'stop'
  | 'stop_token_ids'
  | 'ignore_eos'
  | 'skip_special_tokens'
  | 'logit_bias'
  | 'best_of'
>;

function commonParams(body: Common & Pick<ChatCompletionRequest, 'stream' | 'stream_options'>): SamplingParamsInput {
  if (body.stream_options && !body.stream)
    throw new HttpError(400, 'stream_options can only be given when stream is true', 'stream_options');
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0)
    throw new HttpError(400, 'logit_bias is not supported by this server', 'logit_bias');
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== (body.n ?? 1))
    throw new HttpError(400, 'best_of is not supported (only best_of equal to n)', 'best_of');
  return {
    n: body.n ?? undefined,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    topK: body.top_k ?? undefined,
    minP: body.min_p ?? undefined,
    presencePenalty: body.presence_penalty ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    repetitionPenalty: body.repetition_penalty ?? undefined,
    seed: body.seed ?? undefined,
    stop: body.stop ?? undefined,
    stopTokenIds: body.stop_token_ids ?? undefined,
    ignoreEos: body.ignore_eos ?? undefined,
    skipSpecialTokens: body.skip_special_tokens ?? undefined,
  };
}

export interface RequestSampling {
  params: SamplingParamsInput;
  /** How the library's parameter names map back to this request's fields. */
  names: ParamNames;
}

export function chatSampling(body: ChatCompletionRequest): RequestSampling {
  if (body.tools && body.tools.length > 0) throw new HttpError(400, 'tools are not supported by this server', 'tools');
  if (body.response_format && body.response_format.type !== 'text')
    throw new HttpError(400, `response_format ${JSON.stringify(body.response_format.type)} is not supported (only "text")`, 'response_format');
  const hasTop = body.top_logprobs !== undefined && body.top_logprobs !== null;
  if (hasTop && !body.logprobs) throw new HttpError(400, 'top_logprobs needs logprobs set to true', 'top_logprobs');
  // max_completion_tokens is OpenAI's newer name; it wins when both are sent.
  const maxName = body.max_completion_tokens !== undefined && body.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  return {
    params: {
      ...commonParams(body),
      // Unset: whatever the context leaves (OpenAI's and vLLM's chat default).
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      logprobs: body.logprobs ? (body.top_logprobs ?? 0) : null,
    },
    names: { maxTokens: maxName, logprobs: 'top_logprobs', prompt: 'messages', promptTokenIds: 'messages' },
  };
}

/** OpenAI's legacy completions default to 16 tokens, and so does vLLM. */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

export function completionSampling(body: CompletionRequest): RequestSampling {
  if (body.suffix) throw new HttpError(400, 'suffix is not supported by this server', 'suffix');
  if (body.echo && body.logprobs !== undefined && body.logprobs !== null)
    throw new HttpError(400, 'echo with logprobs would need the prompt tokens\' logprobs, which this server does not compute', 'echo');
  return {
    params: {
      ...commonParams(body),
      maxTokens: body.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS,
      logprobs: body.logprobs ?? null,
    },
    names: { maxTokens: 'max_tokens', promptTokenIds: 'prompt' },
  };
}
