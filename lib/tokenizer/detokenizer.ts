// Streaming detokenization of one output sequence. Decoding the new token alone is wrong twice
// over: SentencePiece decoders strip the leading space of the first token decoded, and a
// character split over byte tokens decodes as U+FFFD until its last byte arrives. So, as in
// vLLM, each step decodes a short window of recent tokens: the text of the already emitted part
// of the window (prefix..read) is subtracted from the text of the whole window (prefix..end).
import type { Tokenizer } from './types.js';

/** Prompt tokens decoded with the first output token, so it gets its leading space right (vLLM uses 5). */
const CONTEXT_TOKENS = 5;
/** How far back a held-back tail is searched for settled text (a character spans at most 4 tokens). */
const MAX_PENDING_TOKENS = 8;
/** Tokens before the window are dropped once this many have piled up. */
const COMPACT_AFTER = 64;

const REPLACEMENT_CHAR = '\uFFFD';

export class IncrementalDetokenizer {
  private ids: number[];
  private prefixOffset = 0;
  private readOffset: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    promptIds: readonly number[],
    private readonly skipSpecialTokens = true,
  ) {
    const context: number[] = [];
    for (let i = promptIds.length - 1; i >= 0 && context.length < CONTEXT_TOKENS; i--) {
      if (this.contributes(promptIds[i])) context.push(promptIds[i]);
    }
    this.ids = context.reverse();
    this.readOffset = this.ids.length;
  }

  /** Adds one or several generated tokens; returns the text they complete (possibly ''). */
  add(tokenIds: number | readonly number[]): string {
    const list = typeof tokenIds === 'number' ? [tokenIds] : tokenIds;
    const before = this.ids.length;
    for (const id of list) if (this.contributes(id)) this.ids.push(id);
    return this.ids.length === before ? '' : this.emit(false);
  }

  /** At the end of generation: the text still held back (an unfinished character shows as U+FFFD, as in a full decode). */
  finish(): string {
    return this.emit(true);
  }

  /** Skipped special tokens and ids outside the vocabulary decode to nothing, as in tokenizer.decode. */
  private contributes(id: number): boolean {
    if (this.skipSpecialTokens && this.tokenizer.isSpecialToken(id)) return false;
    return this.tokenizer.idToToken(id) !== undefined;
  }

  private emit(force: boolean): string {
    if (this.readOffset === this.ids.length) return '';
    const prefixText = this.decode(this.prefixOffset, this.readOffset);
    const text = this.decode(this.prefixOffset, this.ids.length);
    if (force || !text.endsWith(REPLACEMENT_CHAR)) return this.advance(this.ids.length, text.slice(prefixText.length));

    // The text ends in U+FFFD: a character still missing bytes, or an invalid byte. Emit what
    // lies before the last few tokens if it is settled (the whole text starts with it), so a
    // chunk that ends mid-character or a run of invalid bytes does not hold everything back.
    const len = this.ids.length;
    for (let cut = len - 1; cut > this.readOffset && cut >= len - MAX_PENDING_TOKENS; cut--) {
      const cutText = this.decode(this.prefixOffset, cut);
      // An unfinished character has at most 3 bytes, so it lies in the last 3 tokens: a U+FFFD
      // before them that the whole text repeats is an invalid byte, final whatever comes next.
      const settled = text.startsWith(cutText) && (!cutText.endsWith(REPLACEMENT_CHAR) || cut <= len - 3);
      if (settled && cutText.length > prefixText.length) return this.advance(cut, cutText.slice(prefixText.length));
    }
    // Tokens that decode to nothing could pile up without end: give up waiting.
    if (len - this.readOffset >= 4 * MAX_PENDING_TOKENS) return this.advance(len, text.slice(prefixText.length));
    return '';
  }

  private decode(from: number, to: number): string {
    return this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: this.skipSpecialTokens, cleanUpTokenizationSpaces: false });
  }

  /** Marks ids up to `readTo` as emitted; they (at most the last few) are the next window's context. */
  private advance(readTo: number, delta: string): string {
    this.prefixOffset = Math.max(this.readOffset, readTo - CONTEXT_TOKENS);
    this.readOffset = readTo;
    if (this.prefixOffset >= COMPACT_AFTER) {
      this.ids = this.ids.slice(this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return delta;
  }
}
