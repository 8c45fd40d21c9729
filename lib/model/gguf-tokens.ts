// Special token ids from a GGUF vocabulary, shared by the model config (bos/eos) and the
// tokenizer so that both stop on the same tokens.
import type { GgufFile } from './gguf.js';
import { getInteger, getNumberArray, getStringArray } from './gguf-metadata.js';

/** tokenizer.ggml.token_type values (SentencePiece's piece types, as llama.cpp writes them). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/**
 * Control tokens that end a turn in the chat formats of common model families. llama.cpp also
 * stops on these when the file names only the base model's eos (a Qwen instruct file whose eos is
 * <|endoftext|> still ends its turns with <|im_end|>).
 */
const END_OF_TURN_TEXTS = new Set([
  '<|eot_id|>',
  '<|eom_id|>',
  '<|im_end|>',
  '<|end|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '<EOT>',
  '<｜end▁of▁sentence｜>',
]);

/** A token id from metadata, or null when absent, negative (-1 = none) or outside the vocabulary. */
export function specialTokenId(file: GgufFile, key: string, vocabSize: number): number | null {
  const id = getInteger(file, key);
  // Converters write 0xFFFFFFFF (uint32 -1) for "no such token".
  return id !== undefined && id >= 0 && id < vocabSize ? id : null;
}

/** The ids that end generation: eos, eot and eom from metadata, then control tokens that end a turn. */
export function endOfGenerationIds(file: GgufFile, vocabSize: number): number[] {
  const ids = new Set<number>();
  for (const key of ['tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) {
    const id = specialTokenId(file, key, vocabSize);
    if (id !== null) ids.add(id);
  }
  const tokens = getStringArray(file, 'tokenizer.ggml.tokens');
  const types = getNumberArray(file, 'tokenizer.ggml.token_type');
  if (tokens && types && types.length === tokens.length) {
    const n = Math.min(tokens.length, vocabSize);
    for (let id = 0; id < n; id++) {
      if ((types[id] === TokenType.CONTROL || types[id] === TokenType.USER_DEFINED) && END_OF_TURN_TEXTS.has(tokens[id])) ids.add(id);
    }
  }
  return [...ids];
}
