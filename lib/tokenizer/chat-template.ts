// Chat templates (the Jinja in tokenizer_config.json or GGUF tokenizer.chat_template), compiled
// once and rendered per request with what transformers' apply_chat_template provides:
// messages, bos_token/eos_token, add_generation_prompt, raise_exception, strftime_now, range.
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { InvalidRequestError, ModelLoadError } from '../errors.js';
import type { ChatMessage, ChatTemplateOptions } from './types.js';

export interface ChatTemplateSpecialTokens {
  bos?: string;
  eos?: string;
  unk?: string;
  pad?: string;
}

export type ChatTemplateRenderer = (messages: ChatMessage[], options?: ChatTemplateOptions) => string;

/** What a template passes to raise_exception: the template's own verdict on the messages. */
class TemplateRaisedError extends Error {}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's strftime in the C locale (English names), for the directives chat templates use. */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const dayOfYear = Math.floor((Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()) - Date.UTC(date.getFullYear(), 0, 1)) / 86_400_000) + 1;
  return format.replace(/%(-?)([aAbBdHIjmMpSyY%])/g, (whole, noPad: string, directive: string) => {
    const p = (n: number, width = 2) => (noPad ? String(n) : pad(n, width));
    switch (directive) {
      case 'a': return DAYS[date.getDay()].slice(0, 3);
      case 'A': return DAYS[date.getDay()];
      case 'b': return MONTHS[date.getMonth()].slice(0, 3);
      case 'B': return MONTHS[date.getMonth()];
      case 'd': return p(date.getDate());
      case 'H': return p(date.getHours());
      case 'I': return p(date.getHours() % 12 || 12);
      case 'j': return p(dayOfYear, 3);
      case 'm': return p(date.getMonth() + 1);
      case 'M': return p(date.getMinutes());
      case 'p': return date.getHours() < 12 ? 'AM' : 'PM';
      case 'S': return p(date.getSeconds());
      case 'y': return pad(date.getFullYear() % 100);
      case 'Y': return String(date.getFullYear());
      case '%': return '%';
      default: return whole;
    }
  });
}

function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined || stop === null) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const GLOBALS: Record<string, unknown> = {
  true: true,
  false: false,
  none: null,
  True: true,
  False: false,
  None: null,
  range,
  strftime_now: (format: string) => strftime(new Date(), String(format)),
  raise_exception: (message: unknown) => {
    throw new TemplateRaisedError(String(message));
  },
};

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkMessages(messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) throw new InvalidRequestError('messages must be an array of {role, content} objects', 'messages');
  messages.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m))
      throw new InvalidRequestError(`messages[${i}] must be an object with a role and a content`, 'messages');
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || role.length === 0)
      throw new InvalidRequestError(`messages[${i}].role must be a non-empty string (system, user, assistant, ...)`, 'messages');
    if (typeof content !== 'string')
      throw new InvalidRequestError(`messages[${i}].content must be a string, got ${content === null ? 'null' : typeof content}`, 'messages');
  });
}

/**
 * Compiles a chat template. A template that does not parse throws ModelLoadError now;
 * `origin` names where it came from (e.g. "tokenizer_config.json") for that message.
 * Rendering throws InvalidRequestError for bad messages or when the template rejects them.
 */
export function createChatTemplate(
  source: string,
  specialTokens: ChatTemplateSpecialTokens = {},
  origin = 'chat template',
): ChatTemplateRenderer {
  if (typeof source !== 'string' || source.trim().length === 0)
    throw new ModelLoadError(`${origin}: the chat template is empty; remove it or provide a Jinja template`);
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new ModelLoadError(`${origin}: the chat template is not valid Jinja (${errorText(e)}); fix the template or use another model file`, {
      cause: e,
    });
  }
  const tokens: Record<string, string> = {};
  for (const [key, value] of Object.entries(specialTokens)) if (typeof value === 'string') tokens[`${key}_token`] = value;

  return (messages, options = {}) => {
    checkMessages(messages);
    const kwargs = options.chatTemplateKwargs ?? {};
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs))
      throw new InvalidRequestError('chatTemplateKwargs must be an object', 'chatTemplateKwargs');
    const context: Record<string, unknown> = {
      ...tokens,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    };
    for (const [key, value] of Object.entries(kwargs)) {
      if (key in GLOBALS || key in context)
        throw new InvalidRequestError(`chatTemplateKwargs may not set "${key}": the renderer provides it`, 'chatTemplateKwargs');
      context[key] = value;
    }
    const env = new Environment();
    try {
      for (const [key, value] of Object.entries({ ...GLOBALS, ...context })) env.set(key, value);
      const result = new Interpreter(env).run(template.parsed) as { value: unknown };
      return String(result.value);
    } catch (e) {
      if (e instanceof TemplateRaisedError)
        throw new InvalidRequestError(`the chat template rejected the messages: ${e.message}`, 'messages');
      throw new InvalidRequestError(`the chat template could not render these messages: ${errorText(e)}`, 'messages');
    }
  };
}
