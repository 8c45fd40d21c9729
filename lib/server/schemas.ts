// Request bodies of the OpenAI routes (and vLLM's extras), checked for shape and type with zod.
// Ranges (temperature >= 0, n <= 128, max_tokens within the context) are the sampling layer's to
// check (lib/sampling/params.ts), so the library and the server refuse the same things.
// Unknown fields are ignored, as OpenAI and vLLM do; fields we cannot honour are refused by the
// routes rather than silently dropped.
import { z } from 'zod';

const int = () => z.number().int();

/** Sampling fields shared by chat and completions (OpenAI's, then vLLM's extra ones). */
const samplingFields = {
  model: z.string().nullish(),
  n: int().nullish(),
  max_tokens: int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  seed: int().nullish(),
  stop: z.union([z.string(), z.array(z.string())], { error: 'stop must be a string or an array of strings' }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z
    .object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
    .nullish(),
  user: z.string().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  // vLLM's extra sampling parameters.
  top_k: int().nullish(),
  min_p: z.number().nullish(),
  repetition_penalty: z.number().nullish(),
  stop_token_ids: z.array(int()).nullish(),
  ignore_eos: z.boolean().nullish(),
  skip_special_tokens: z.boolean().nullish(),
  best_of: int().nullish(),
};

/** A content part of a chat message; only text parts can be rendered by a text model. */
const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });

const chatMessage = z.looseObject({
  role: z.string(),
  content: z
    .union([z.string(), z.array(contentPart), z.null()], { error: 'content must be a string or an array of content parts' })
    .optional(),
  name: z.string().nullish(),
});

export const chatCompletionRequest = z.object({
  ...samplingFields,
  messages: z.array(chatMessage).min(1, 'messages must not be empty'),
  max_completion_tokens: int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int().nullish(),
  tools: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  response_format: z.looseObject({ type: z.string() }).nullish(),
  // vLLM's chat extras.
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

const tokenIds = z.array(int());

export const completionRequest = z.object({
  ...samplingFields,
  /** A text, token ids, or a batch of either: each prompt gets its own n choices. */
  prompt: z.union([z.string(), tokenIds, z.array(z.string()), z.array(tokenIds)], {
    error: (issue) =>
      issue.input === undefined ? 'prompt is required' : 'prompt must be a string, an array of token ids, or an array of either',
  }),
  max_tokens: int().nullish(),
  logprobs: int().nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  add_special_tokens: z.boolean().nullish(),
});
export type CompletionRequest = z.infer<typeof completionRequest>;

/** vLLM's /tokenize of a prompt. */
export const tokenizePromptRequest = z.object({
  model: z.string().nullish(),
  prompt: z.string(),
  add_special_tokens: z.boolean().nullish(),
  return_token_strs: z.boolean().nullish(),
});

/** vLLM's /tokenize of chat messages, rendered with the chat template. */
export const tokenizeChatRequest = z.object({
  model: z.string().nullish(),
  messages: z.array(chatMessage).min(1, 'messages must not be empty'),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  add_special_tokens: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  return_token_strs: z.boolean().nullish(),
});

export const detokenizeRequest = z.object({
  model: z.string().nullish(),
  tokens: tokenIds,
});

export type ChatMessageInput = z.infer<typeof chatMessage>;
