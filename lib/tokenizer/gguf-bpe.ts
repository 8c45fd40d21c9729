// Byte-level BPE over a GGUF 'gpt2' vocabulary: the text is split by the model's pre-tokenizer
// regex, each piece's UTF-8 bytes are written in GPT-2's printable byte alphabet, and adjacent
// symbols merge lowest-rank-first by the vocabulary's merge rules.
import { ModelLoadError } from '../errors.js';
import { mergePairs } from './pair-merge.js';

// Contractions, letters, digits, other symbols and whitespace, as the models' tokenizer.json
// files define them. Oniguruma's inline (?i:…) has no JavaScript form, so the case-insensitive
// contractions are spelled out with character classes.
const CONTRACTIONS_ANY_CASE = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_SPLIT = `${CONTRACTIONS_ANY_CASE}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2_SPLIT = `${CONTRACTIONS_ANY_CASE}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

interface PreTokenizer {
  split: string;
  /** Llama 3's tokenizer takes a piece that is itself a vocabulary token whole, before any merge. */
  ignoreMerges: boolean;
}

/** tokenizer.ggml.pre → how the text is split before BPE. */
const PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  default: { split: GPT2_SPLIT, ignoreMerges: false },
  'gpt-2': { split: GPT2_SPLIT, ignoreMerges: false },
  gpt2: { split: GPT2_SPLIT, ignoreMerges: false },
  'llama-bpe': { split: LLAMA3_SPLIT, ignoreMerges: true },
  llama3: { split: LLAMA3_SPLIT, ignoreMerges: true },
  'smaug-bpe': { split: LLAMA3_SPLIT, ignoreMerges: true },
  qwen2: { split: QWEN2_SPLIT, ignoreMerges: false },
  'deepseek-r1-qwen': { split: QWEN2_SPLIT, ignoreMerges: false },
};

export const SUPPORTED_PRE_TOKENIZERS = Object.keys(PRE_TOKENIZERS);

/**
 * GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes stand for
 * themselves, the others (controls, space, 0x7F-0xA0, soft hyphen) move to U+0100 onwards.
 */
function byteAlphabet(): string[] {
  const chars: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + shifted++);
  }
  return chars;
}

export const BYTE_TO_CHAR = byteAlphabet();
export const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const WORD_CACHE_LIMIT = 50_000;

export class BpeEncoder {
  private readonly ids = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly splitter: RegExp;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();

  constructor(tokens: string[], merges: string[], pre: string, where: string) {
    const p = PRE_TOKENIZERS[pre];
    if (!p) {
      throw new ModelLoadError(
        `${where}: pre-tokenizer '${pre}' (tokenizer.ggml.pre) is not supported (supported: ${SUPPORTED_PRE_TOKENIZERS.join(', ')})`,
      );
    }
    this.splitter = new RegExp(p.split, 'gu');
    this.ignoreMerges = p.ignoreMerges;
    for (let id = 0; id < tokens.length; id++) if (!this.ids.has(tokens[id])) this.ids.set(tokens[id], id);
    // Merges are "left right"; the rank is the position (lower merges first).
    for (let rank = 0; rank < merges.length; rank++) if (!this.ranks.has(merges[rank])) this.ranks.set(merges[rank], rank);
  }

  /** Appends the ids of a plain-text fragment (no special tokens in it). */
  encode(text: string, out: number[]): void {
    let last = 0;
    for (const m of text.matchAll(this.splitter)) {
      // Text no alternative matches (none for these patterns) still becomes its own piece.
      if (m.index > last) this.encodeWord(text.slice(last, m.index), out);
      if (m[0].length > 0) this.encodeWord(m[0], out);
      last = m.index + m[0].length;
    }
    if (last < text.length) this.encodeWord(text.slice(last), out);
  }

  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids = this.bpe(word);
    if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  private bpe(word: string): number[] {
    const symbols = Array.from(Buffer.from(word, 'utf8'), (b) => BYTE_TO_CHAR[b]);
    const whole = this.ignoreMerges ? this.ids.get(symbols.join('')) : undefined;
    if (whole !== undefined) return [whole];
    const pieces = mergePairs(symbols, (left, right) => {
      const rank = this.ranks.get(`${left} ${right}`);
      return rank === undefined ? undefined : -rank;
    });
    const ids: number[] = [];
    for (const piece of pieces) {
      const id = this.ids.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // A merge whose result is not a token (an inconsistent vocabulary): fall back to its bytes.
      for (const ch of piece) {
        const byteId = this.ids.get(ch);
        if (byteId !== undefined) ids.push(byteId);
      }
    }
    return ids;
  }
}
