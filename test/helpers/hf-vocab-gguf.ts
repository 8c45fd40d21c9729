// Writes a byte-level BPE tokenizer.json as a vocabulary-only GGUF, the way llama.cpp's converter
// does (tokens by id, added tokens CONTROL when special else USER_DEFINED, holes as UNUSED pads,
// merges as "left right"), so that the GGUF tokenizer can be checked against vectors made for
// vocabularies whose GGUF files are not in ../shared.
import { readFileSync } from 'node:fs';
import { GgufValueType } from '../../lib/model/gguf-types.js';
import { kvArray, kvBool, kvString, kvU32, writeGguf, type WriterKv } from './gguf-writer.js';

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

export interface BpeVocabOptions {
  pre: string;
  bos?: string;
  eos?: string;
  addBos?: boolean;
  chatTemplate?: string;
}

export function bpeVocabGguf(tokenizerJsonPath: string, opts: BpeVocabOptions): Uint8Array {
  const tj = JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')) as TokenizerJson;
  let n = 0;
  for (const id of Object.values(tj.model.vocab)) n = Math.max(n, id + 1);
  for (const a of tj.added_tokens) n = Math.max(n, a.id + 1);
  const tokens: string[] = new Array(n).fill('');
  const types: number[] = new Array(n).fill(1); // NORMAL
  for (const [text, id] of Object.entries(tj.model.vocab)) tokens[id] = text;
  for (const a of tj.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4; // CONTROL : USER_DEFINED
  }
  for (let i = 0; i < n; i++) {
    if (tokens[i] === '') {
      tokens[i] = `[PAD${i}]`;
      types[i] = 5; // UNUSED
    }
  }
  const idOf = (text: string) => {
    const id = tokens.indexOf(text);
    if (id < 0) throw new Error(`${text} is not in ${tokenizerJsonPath}`);
    return id;
  };
  const kv: WriterKv[] = [
    kvString('tokenizer.ggml.model', 'gpt2'),
    kvString('tokenizer.ggml.pre', opts.pre),
    kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, tokens),
    kvArray('tokenizer.ggml.token_type', GgufValueType.INT32, types),
    kvArray('tokenizer.ggml.merges', GgufValueType.STRING, tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m))),
  ];
  if (opts.bos) kv.push(kvU32('tokenizer.ggml.bos_token_id', idOf(opts.bos)));
  if (opts.eos) kv.push(kvU32('tokenizer.ggml.eos_token_id', idOf(opts.eos)));
  if (opts.addBos !== undefined) kv.push(kvBool('tokenizer.ggml.add_bos_token', opts.addBos));
  if (opts.chatTemplate) kv.push(kvString('tokenizer.chat_template', opts.chatTemplate));
  return writeGguf({ kv });
}
