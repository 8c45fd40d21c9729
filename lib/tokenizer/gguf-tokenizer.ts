// The Tokenizer of a GGUF file's own vocabulary: SentencePiece ('llama') or byte-level BPE
// ('gpt2'), special tokens matched as whole strings in the text, BOS/EOS as the file says, and
// the file's chat template. Behaves like llama.cpp's tokenizer with special-token parsing on
// (what llama-server and Ollama use for prompts).
import { InvalidRequestError } from '../errors.js';
import { readGgufFile, type GgufFile } from '../model/gguf.js';
import { TokenType } from '../model/gguf-tokens.js';
import { createChatTemplate, type ChatTemplateRenderer } from './chat-template.js';
import { BpeEncoder, CHAR_TO_BYTE } from './gguf-bpe.js';
import { SpmEncoder } from './gguf-spm.js';
import { readGgufVocab, type GgufVocab } from './gguf-vocab.js';
import { SpecialSplitter } from './special-split.js';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from './types.js';

/** Reads a GGUF file's header and builds the tokenizer of its vocabulary. */
export function loadGgufTokenizer(file: string): Tokenizer {
  return ggufTokenizer(readGgufFile(file));
}

export function ggufTokenizer(file: GgufFile): Tokenizer {
  return new GgufTokenizer(readGgufVocab(file), file.path);
}

/** transformers' clean_up_tokenization: no space before punctuation and English contractions. */
function cleanUpSpaces(text: string): string {
  return text
    .replace(/ ([.?!,])/g, '$1')
    .replaceAll(" ' ", "'")
    .replace(/ (n't|'m|'s|'ve|'re)/g, '$1');
}

class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly addsSpecialTokens: boolean;
  readonly hasChatTemplate: boolean;
  private readonly spm: SpmEncoder | null;
  private readonly bpe: BpeEncoder | null;
  private readonly specials: SpecialSplitter;
  private readonly renderChat: ChatTemplateRenderer | null;

  constructor(
    private readonly vocab: GgufVocab,
    where: string,
  ) {
    this.vocabSize = vocab.tokens.length;
    this.bosTokenId = vocab.bosId;
    this.eosTokenIds = vocab.eosId !== null && !vocab.eogIds.includes(vocab.eosId) ? [vocab.eosId, ...vocab.eogIds] : vocab.eogIds;
    this.addsSpecialTokens = (vocab.addBos && vocab.bosId !== null) || (vocab.addEos && vocab.eosId !== null);
    this.spm = vocab.model === 'llama' ? new SpmEncoder(vocab.tokens, vocab.scores, vocab.unkId) : null;
    this.bpe = vocab.model === 'gpt2' ? new BpeEncoder(vocab.tokens, vocab.merges, vocab.pre, where) : null;
    // llama.cpp's special tokens: control, user-defined and unknown pieces, matched in the text.
    const specials: { text: string; id: number }[] = [];
    vocab.types.forEach((type, id) => {
      if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED || type === TokenType.UNKNOWN) specials.push({ text: vocab.tokens[id], id });
    });
    this.specials = new SpecialSplitter(specials);
    const text = (id: number | null) => (id === null ? undefined : vocab.tokens[id]);
    this.renderChat =
      vocab.chatTemplate !== null
        ? createChatTemplate(vocab.chatTemplate, { bos: text(vocab.bosId), eos: text(vocab.eosId), unk: text(vocab.unkId) }, `${where}: tokenizer.chat_template`)
        : null;
    this.hasChatTemplate = this.renderChat !== null;
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    if (typeof text !== 'string') throw new InvalidRequestError(`the text to tokenize must be a string, got ${typeof text}`, 'prompt');
    const addSpecial = options.addSpecialTokens ?? true;
    const v = this.vocab;
    const out: number[] = [];
    if (addSpecial && v.addBos && v.bosId !== null) out.push(v.bosId);
    // SentencePiece's dummy prefix goes before the first text and again after every special
    // token, as in llama.cpp.
    let afterSpecial = true;
    for (const fragment of this.specials.split(text)) {
      if (typeof fragment !== 'string') {
        out.push(fragment.id);
        afterSpecial = true;
        continue;
      }
      if (this.spm) this.spm.encode(fragment, v.addSpacePrefix && afterSpecial, out);
      else this.bpe!.encode(fragment, out);
      afterSpecial = false;
    }
    if (addSpecial && v.addEos && v.eosId !== null) out.push(v.eosId);
    return out;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean } = {}): string {
    if (!Array.isArray(ids)) throw new InvalidRequestError('token ids must be an array of integers', 'ids');
    const skipSpecial = options.skipSpecialTokens ?? true;
    const v = this.vocab;
    const bytes: number[] = [];
    const pushText = (s: string) => {
      for (const b of Buffer.from(s, 'utf8')) bytes.push(b);
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0) throw new InvalidRequestError(`token ids must be non-negative integers, got ${String(id)} at index ${i}`, 'ids');
      // Ids beyond the vocabulary (padded embedding rows) decode to nothing.
      if (id >= v.tokens.length) continue;
      const piece = v.tokens[id];
      switch (v.types[id]) {
        case TokenType.CONTROL:
        case TokenType.UNKNOWN:
          if (!skipSpecial) pushText(piece);
          break;
        case TokenType.UNUSED:
          break;
        case TokenType.BYTE: {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
          if (m) bytes.push(parseInt(m[1], 16));
          else pushText(piece);
          break;
        }
        case TokenType.USER_DEFINED:
          pushText(this.spm ? piece.replaceAll('▁', ' ') : piece);
          break;
        default:
          if (this.spm) pushText(piece.replaceAll('▁', ' '));
          else for (const ch of piece) {
            const b = CHAR_TO_BYTE.get(ch);
            if (b !== undefined) bytes.push(b);
            else pushText(ch);
          }
      }
    }
    // The dummy prefix the encoder added comes back as a leading space: drop it.
    const start = this.spm && v.addSpacePrefix && bytes[0] === 0x20 ? 1 : 0;
    const text = Buffer.from(bytes.slice(start)).toString('utf8');
    return (options.cleanUpTokenizationSpaces ?? v.cleanSpaces) ? cleanUpSpaces(text) : text;
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocab.tokens.length ? this.vocab.tokens[id] : undefined;
  }

  isSpecialToken(id: number): boolean {
    const t = this.vocab.types[id];
    return t === TokenType.CONTROL || t === TokenType.UNKNOWN;
  }

  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string {
    if (!this.renderChat) {
      throw new InvalidRequestError('this model has no chat template (tokenizer.chat_template is absent from the GGUF file): send a plain prompt instead', 'messages');
    }
    return this.renderChat(messages, options);
  }
}
