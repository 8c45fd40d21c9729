// The vocabulary a GGUF file carries (tokenizer.ggml.* metadata), read and checked once: token
// strings, scores, types, merges, special ids and flags, with llama.cpp's defaults for absent keys.
import { ModelLoadError } from '../errors.js';
import type { GgufFile } from '../model/gguf.js';
import { getBool, getNumberArray, getString, getStringArray } from '../model/gguf-metadata.js';
import { TokenType, endOfGenerationIds, specialTokenId } from '../model/gguf-tokens.js';

export type VocabModel = 'llama' | 'gpt2';

export interface GgufVocab {
  /** 'llama': SentencePiece pieces with scores; 'gpt2': byte-level BPE with merges. */
  model: VocabModel;
  tokens: string[];
  /** SentencePiece scores (higher merges first); zeros where the file has none. */
  scores: Float32Array;
  /** tokenizer.ggml.token_type per token (TokenType); NORMAL where the file has none. */
  types: Uint8Array;
  /** BPE merges as "left right" strings, in priority order (gpt2 only). */
  merges: string[];
  /** tokenizer.ggml.pre: which pre-tokenizer split a gpt2 vocabulary was trained with. */
  pre: string;
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  eogIds: number[];
  addBos: boolean;
  addEos: boolean;
  /** SentencePiece's dummy prefix: a space before the text (and after each special token). */
  addSpacePrefix: boolean;
  chatTemplate: string | null;
  /** tokenizer.ggml.clean_spaces: decode() removes spaces before punctuation, as transformers' clean-up does. */
  cleanSpaces: boolean;
}

export function readGgufVocab(file: GgufFile): GgufVocab {
  const where = file.path;
  const modelName = getString(file, 'tokenizer.ggml.model');
  if (modelName === undefined) throw new ModelLoadError(`${where}: no tokenizer.ggml.model in the metadata: the file carries no vocabulary`);
  if (modelName !== 'llama' && modelName !== 'gpt2') {
    throw new ModelLoadError(
      `${where}: tokenizer model '${modelName}' is not supported (supported: 'llama' SentencePiece and 'gpt2' byte-level BPE vocabularies)`,
    );
  }
  const model: VocabModel = modelName;
  const tokens = getStringArray(file, 'tokenizer.ggml.tokens');
  if (!tokens || tokens.length === 0) throw new ModelLoadError(`${where}: tokenizer.ggml.tokens is missing or empty`);
  const n = tokens.length;

  const scores = new Float32Array(n);
  const fileScores = getNumberArray(file, 'tokenizer.ggml.scores');
  if (fileScores) {
    if (fileScores.length !== n) throw new ModelLoadError(`${where}: tokenizer.ggml.scores has ${fileScores.length} values for ${n} tokens`);
    scores.set(fileScores);
  }
  const types = new Uint8Array(n).fill(TokenType.NORMAL);
  const fileTypes = getNumberArray(file, 'tokenizer.ggml.token_type');
  if (fileTypes) {
    if (fileTypes.length !== n) throw new ModelLoadError(`${where}: tokenizer.ggml.token_type has ${fileTypes.length} values for ${n} tokens`);
    for (let i = 0; i < n; i++) {
      const t = fileTypes[i];
      if (!(t >= TokenType.NORMAL && t <= TokenType.BYTE)) throw new ModelLoadError(`${where}: token ${i} has unknown token type ${t}`);
      types[i] = t;
    }
  }
  const merges = getStringArray(file, 'tokenizer.ggml.merges') ?? [];
  if (model === 'gpt2' && merges.length === 0) throw new ModelLoadError(`${where}: a 'gpt2' vocabulary needs tokenizer.ggml.merges, which is missing or empty`);

  const spm = model === 'llama';
  // llama.cpp's defaults for SentencePiece files that omit the ids: unk 0, bos 1, eos 2.
  const id = (key: string, spmDefault: number) =>
    file.metadata.has(key) ? specialTokenId(file, key, n) : spm && spmDefault < n ? spmDefault : null;
  return {
    model,
    tokens,
    scores,
    types,
    merges,
    pre: getString(file, 'tokenizer.ggml.pre') ?? 'default',
    bosId: id('tokenizer.ggml.bos_token_id', 1),
    eosId: id('tokenizer.ggml.eos_token_id', 2),
    unkId: id('tokenizer.ggml.unknown_token_id', 0),
    eogIds: endOfGenerationIds(file, n),
    addBos: getBool(file, 'tokenizer.ggml.add_bos_token') ?? spm,
    addEos: getBool(file, 'tokenizer.ggml.add_eos_token') ?? false,
    addSpacePrefix: getBool(file, 'tokenizer.ggml.add_space_prefix') ?? spm,
    chatTemplate: getString(file, 'tokenizer.chat_template') ?? null,
    cleanSpaces: getBool(file, 'tokenizer.ggml.clean_spaces') ?? false,
  };
}
