// Logprobs in OpenAI's two shapes: chat's {content: [{token, logprob, bytes, top_logprobs}]} and
// completions' {tokens, token_logprobs, top_logprobs, text_offset}.
//
// A token's string is the text it adds after the tokens before it, as OpenAI reports (" the",
// not "▁the"). Decoding the token alone is wrong for SentencePiece vocabularies (the decoder drops
// the leading space of the first token), so each token is decoded after a short window of the
// tokens before it and the window's own text is subtracted. Without a tokenizer the strings are
// "token_id:N", vLLM's format for token ids.
import type { TokenLogprob } from '../engine/types.js';
import type { Tokenizer } from '../tokenizer/types.js';

/** Tokens of context decoded before each token (a character spans at most 4 byte tokens). */
const WINDOW = 5;

/** JSON has no -Infinity; vLLM reports impossible tokens as -9999 too. */
const MIN_LOGPROB = -9999;

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

function clamp(logprob: number): number {
  return Number.isFinite(logprob) ? Math.max(logprob, MIN_LOGPROB) : MIN_LOGPROB;
}

/** The token strings of one output sequence, position by position. */
export class TokenStrings {
  private readonly window: number[] = [];

  constructor(
    private readonly tokenizer: Tokenizer | null,
    promptIds: readonly number[],
  ) {
    for (let i = promptIds.length - 1; i >= 0 && this.window.length < WINDOW; i--) this.remember(promptIds[i], true);
  }

  /** Strings of the chosen token and its alternatives at the next position; then moves past the chosen one. */
  next(entry: TokenLogprob): { token: string; top: string[] } {
    const context = this.tokenizer ? this.decode(this.window) : '';
    const token = this.text(context, entry.token);
    const top = entry.top.map((t) => this.text(context, t.token));
    this.remember(entry.token, false);
    return { token, top };
  }

  /** UTF-8 bytes of a token: a byte-fallback piece (<0xE2>) is that one byte, which its text cannot show. */
  bytes(id: number, text: string): number[] {
    const m = this.tokenizer ? BYTE_PIECE.exec(this.tokenizer.idToToken(id) ?? '') : null;
    return m ? [parseInt(m[1], 16)] : [...Buffer.from(text, 'utf8')];
  }

  private text(context: string, id: number): string {
    if (!this.tokenizer) return `token_id:${id}`;
    const full = this.decode([...this.window, id]);
    return full.startsWith(context) ? full.slice(context.length) : this.decode([id]);
  }

  private decode(ids: number[]): string {
    return this.tokenizer!.decode(ids, { skipSpecialTokens: false, cleanUpTokenizationSpaces: false });
  }

  /** Special tokens stay out of the window: they would add their own text to the context. */
  private remember(id: number, front: boolean): void {
    if (this.tokenizer?.isSpecialToken(id) || this.tokenizer?.idToToken(id) === undefined) return;
    if (front) this.window.unshift(id);
    else {
      this.window.push(id);
      if (this.window.length > WINDOW) this.window.shift();
    }
  }
}

export function chatLogprobs(strings: TokenStrings, entries: readonly TokenLogprob[]): ChatTokenLogprob[] {
  return entries.map((e) => {
    const s = strings.next(e);
    return {
      token: s.token,
      logprob: clamp(e.logprob),
      bytes: strings.bytes(e.token, s.token),
      top_logprobs: e.top.map((t, k) => ({ token: s.top[k], logprob: clamp(t.logprob), bytes: strings.bytes(t.token, s.top[k]) })),
    };
  });
}

/**
 * Completions logprobs. text_offset counts from `offset` (the characters of the choice's text
 * before these tokens), by token string lengths, as vLLM does. Each top_logprobs dictionary holds
 * the top alternatives and the chosen token (OpenAI's legacy shape).
 */
export function completionLogprobs(strings: TokenStrings, entries: readonly TokenLogprob[], offset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  for (const e of entries) {
    const s = strings.next(e);
    out.tokens.push(s.token);
    out.token_logprobs.push(clamp(e.logprob));
    // No prototype: a token string may well be "__proto__" or "constructor".
    const top: Record<string, number> = Object.create(null);
    e.top.forEach((t, k) => {
      if (!(s.top[k] in top)) top[s.top[k]] = clamp(t.logprob);
    });
    if (!(s.token in top)) top[s.token] = clamp(e.logprob);
    out.top_logprobs.push(top);
    out.text_offset.push(at);
    at += s.token.length;
  }
  return out;
}
