// From request bodies to prompt token ids: chat messages through the model's chat template,
// completion prompts (text, token ids, or a batch of either). Used by the generation routes and
// by /tokenize, so both count the same tokens.
import { PagedInferError } from '../errors.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/types.js';
import { HttpError } from './errors.js';
import type { ChatMessageInput } from './schemas.js';

export function requireTokenizer(tokenizer: Tokenizer | null, param: string): Tokenizer {
  if (!tokenizer)
    throw new HttpError(400, 'this model has no tokenizer: send the prompt as token ids to /v1/completions', param);
  return tokenizer;
}

/** Text parts are joined with newlines (as vLLM does); other parts (images, audio) a text model cannot read. */
function messageText(m: ChatMessageInput, i: number): string {
  if (m.content === undefined || m.content === null) return '';
  if (typeof m.content === 'string') return m.content;
  const texts: string[] = [];
  m.content.forEach((part, j) => {
    if (part.type !== 'text' || typeof part.text !== 'string')
      throw new HttpError(
        400,
        part.type === 'text'
          ? `messages.${i}.content.${j}: a text part needs a string "text"`
          : `messages.${i}.content.${j}: content parts of type "${part.type}" are not supported; this model reads text only`,
        `messages.${i}.content`,
      );
    texts.push(part.text);
  });
  return texts.join('\n');
}

export interface ChatPromptOptions {
  addGenerationPrompt?: boolean | null;
  continueFinalMessage?: boolean | null;
  chatTemplateKwargs?: Record<string, unknown> | null;
  /** Whether to add BOS and the like on top of what the template writes (vLLM's default: no). */
  addSpecialTokens?: boolean | null;
}

/** Renders chat messages with the model's template and tokenizes them. */
export function chatPromptIds(tokenizer: Tokenizer | null, messages: ChatMessageInput[], o: ChatPromptOptions = {}): number[] {
  const tok = requireTokenizer(tokenizer, 'messages');
  // vLLM refuses chat for a model without a template (transformers dropped its default template);
  // guessing a format would give plausible-looking but wrong prompts.
  if (!tok.hasChatTemplate)
    throw new HttpError(
      400,
      "this model's tokenizer has no chat template, so chat messages cannot be formatted for it: use /v1/completions with a text prompt",
      'messages',
      'chat_template_missing',
    );
  if (o.continueFinalMessage)
    throw new HttpError(400, 'continue_final_message is not supported', 'continue_final_message');
  const chat: ChatMessage[] = messages.map((m, i) => ({ role: m.role, content: messageText(m, i) }));
  let text: string;
  try {
    text = tok.applyChatTemplate(chat, {
      addGenerationPrompt: o.addGenerationPrompt ?? true,
      chatTemplateKwargs: o.chatTemplateKwargs ?? undefined,
    });
  } catch (e) {
    if (e instanceof PagedInferError) throw e;
    // The template itself refused the conversation (raise_exception), e.g. roles that do not alternate.
    throw new HttpError(400, `the chat template could not render these messages: ${(e as Error)?.message ?? String(e)}`, 'messages');
  }
  // The template writes BOS and the other special tokens itself.
  return tok.encode(text, { addSpecialTokens: o.addSpecialTokens ?? false });
}

export interface CompletionPrompt {
  tokenIds: number[];
  /** The prompt as text, for echo: the text sent, or the token ids decoded. */
  text: () => string;
}

/** One prompt per entry of a batch; a text prompt gets BOS unless add_special_tokens is false. */
export function completionPrompts(
  tokenizer: Tokenizer | null,
  prompt: string | number[] | string[] | number[][],
  addSpecialTokens: boolean,
): CompletionPrompt[] {
  const single = typeof prompt === 'string' || (prompt.length > 0 && typeof prompt[0] === 'number');
  const list = (single ? [prompt] : prompt) as (string | number[])[];
  if (list.length === 0) throw new HttpError(400, 'prompt must not be empty', 'prompt');
  return list.map((p) => {
    if (typeof p === 'string') {
      const tok = requireTokenizer(tokenizer, 'prompt');
      return { tokenIds: tok.encode(p, { addSpecialTokens }), text: () => p };
    }
    if (p.length === 0) throw new HttpError(400, 'prompt must not be an empty array of token ids', 'prompt');
    return { tokenIds: p, text: () => tokenizer?.decode(p) ?? '' };
  });
}
