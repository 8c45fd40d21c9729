// A Hugging Face model directory's tokenizer (tokenizer.json + tokenizer_config.json) on
// @huggingface/tokenizers, behind the engine's Tokenizer interface.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { InvalidRequestError, ModelLoadError } from '../errors.js';
import { createChatTemplate, type ChatTemplateRenderer } from './chat-template.js';
import { specialTokenContent, transformersPipeline } from './hf-pipeline.js';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from './types.js';

type Json = Record<string, unknown>;

/** The parsed files a tokenizer is built from; `dir` only names them in messages. */
export interface HfTokenizerSources {
  tokenizerJson: unknown;
  tokenizerConfig?: unknown;
  /** generation_config.json: its eos_token_id (one id or a list) joins eosTokenIds, as vLLM stops on them. */
  generationConfig?: unknown;
  /** Overrides tokenizer_config.json's chat_template (e.g. the contents of chat_template.jinja). */
  chatTemplate?: { source: string; origin: string } | null;
  dir?: string;
}

/** Sections a tokenizer.json may leave out (the library wants them present, null when unused). */
const OPTIONAL_SECTIONS = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null };

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readJson(file: string, required: boolean): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && (code === 'ENOENT' || code === 'ENOTDIR')) return null;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ModelLoadError(`${file} not found: a Hugging Face model directory needs tokenizer.json (pass the directory that holds it)`);
    throw new ModelLoadError(`${file} cannot be read (${code ?? errorText(e)})`, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${file} is not valid JSON (${errorText(e)}): the file is corrupt or truncated, download it again`, { cause: e });
  }
  if (!isObject(value)) throw new ModelLoadError(`${file} must hold a JSON object, found ${Array.isArray(value) ? 'an array' : typeof value}`);
  return value;
}

async function readTextIfPresent(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new ModelLoadError(`${file} cannot be read (${code ?? errorText(e)})`, { cause: e });
  }
}

/** tokenizer_config.json's chat_template: one string, or named templates of which "default" is used. */
function configChatTemplate(config: Json, origin: string): { source: string; origin: string } | null {
  const value = config.chat_template;
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return { source: value, origin };
  if (Array.isArray(value)) {
    const entry = value.find((t) => isObject(t) && t.name === 'default');
    if (entry === undefined) return null;
    if (typeof entry.template !== 'string') throw new ModelLoadError(`${origin}: chat_template "default" has no template string`);
    return { source: entry.template, origin };
  }
  throw new ModelLoadError(`${origin}: chat_template must be a string or a list of {name, template}`);
}

/** Reads dir/tokenizer.json (required), tokenizer_config.json, generation_config.json and chat_template.jinja. */
export async function loadHfTokenizer(dir: string): Promise<Tokenizer> {
  if (typeof dir !== 'string' || dir.length === 0) throw new ModelLoadError('loadHfTokenizer needs the path of a model directory');
  const [tokenizerJson, tokenizerConfig, generationConfig, jinja] = await Promise.all([
    readJson(path.join(dir, 'tokenizer.json'), true),
    readJson(path.join(dir, 'tokenizer_config.json'), false),
    readJson(path.join(dir, 'generation_config.json'), false),
    readTextIfPresent(path.join(dir, 'chat_template.jinja')),
  ]);
  // transformers saves templates to chat_template.jinja and lets it win over tokenizer_config.json.
  const chatTemplate = jinja !== null ? { source: jinja, origin: path.join(dir, 'chat_template.jinja') } : undefined;
  return hfTokenizerFromJson({ tokenizerJson, tokenizerConfig, generationConfig, chatTemplate, dir });
}

/** Builds the tokenizer from already parsed files (also for vocabularies converted to tokenizer.json form). */
export function hfTokenizerFromJson(sources: HfTokenizerSources): Tokenizer {
  return new HfTokenizer(sources);
}

class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly addsSpecialTokens: boolean;
  readonly hasChatTemplate: boolean;
  private readonly lib: HfLibTokenizer;
  private readonly specialIds = new Set<number>();
  private readonly cleanUpSpaces: boolean;
  private readonly renderChat: ChatTemplateRenderer | null;

  constructor(sources: HfTokenizerSources) {
    const name = (file: string) => (sources.dir ? path.join(sources.dir, file) : file);
    const jsonFile = name('tokenizer.json');
    const configFile = name('tokenizer_config.json');
    const { tokenizerJson } = sources;
    const config = sources.tokenizerConfig ?? {};
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model))
      throw new ModelLoadError(`${jsonFile} is not a Hugging Face tokenizer: it has no "model" section`);
    if (!isObject(config)) throw new ModelLoadError(`${configFile} must hold a JSON object`);
    if (tokenizerJson.added_tokens !== undefined && !Array.isArray(tokenizerJson.added_tokens))
      throw new ModelLoadError(`${jsonFile}: "added_tokens" must be a list`);
    try {
      this.lib = new HfLibTokenizer(transformersPipeline({ ...OPTIONAL_SECTIONS, ...tokenizerJson }, config), config);
    } catch (e) {
      throw new ModelLoadError(`${jsonFile} could not be loaded by @huggingface/tokenizers: ${errorText(e)}`, { cause: e });
    }

    let maxId = -1;
    for (const id of this.lib.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    if (this.vocabSize === 0) throw new ModelLoadError(`${jsonFile} has an empty vocabulary`);

    const idOf = (key: string): number | null => {
      const value = config[key];
      if (value === undefined || value === null) return null;
      const content = specialTokenContent(value);
      if (content === null) throw new ModelLoadError(`${configFile}: ${key} must be a string or an object with "content"`);
      const id = this.lib.token_to_id(content);
      if (id === undefined) throw new ModelLoadError(`${configFile}: ${key} ${JSON.stringify(content)} is not in the vocabulary of ${jsonFile}`);
      return id;
    };
    this.bosTokenId = idOf('bos_token');
    const eos = idOf('eos_token');
    this.eosTokenIds = eos === null ? [] : [eos];
    for (const id of generationEosIds(sources.generationConfig, name('generation_config.json')))
      if (!this.eosTokenIds.includes(id)) this.eosTokenIds.push(id);

    // What transformers counts as special (and skip_special_tokens drops): special added tokens,
    // the named special tokens and additional_special_tokens.
    for (const [id, token] of this.lib.get_added_tokens_decoder()) if (token.special) this.specialIds.add(id);
    if (isObject(config.added_tokens_decoder)) {
      for (const [id, token] of Object.entries(config.added_tokens_decoder))
        if (isObject(token) && token.special === true && this.lib.id_to_token(Number(id)) === token.content) this.specialIds.add(Number(id));
    }
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const content = specialTokenContent(config[key]);
      const id = content === null ? undefined : this.lib.token_to_id(content);
      if (id !== undefined) this.specialIds.add(id);
    }
    for (const token of Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : []) {
      const content = specialTokenContent(token);
      const id = content === null ? undefined : this.lib.token_to_id(content);
      if (id !== undefined) this.specialIds.add(id);
    }

    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    this.addsSpecialTokens = this.lib.encode('', { add_special_tokens: true }).ids.length > 0;

    const template = sources.chatTemplate ?? configChatTemplate(config, configFile);
    const bos = specialTokenContent(config.bos_token) ?? undefined;
    const eosText = specialTokenContent(config.eos_token) ?? undefined;
    const unk = specialTokenContent(config.unk_token) ?? undefined;
    const pad = specialTokenContent(config.pad_token) ?? undefined;
    this.renderChat = template ? createChatTemplate(template.source, { bos, eos: eosText, unk, pad }, template.origin) : null;
    this.hasChatTemplate = this.renderChat !== null;
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    if (typeof text !== 'string') throw new InvalidRequestError(`the text to tokenize must be a string, got ${typeof text}`, 'prompt');
    try {
      return this.lib.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    } catch (e) {
      throw new InvalidRequestError(`the text could not be tokenized: ${errorText(e)}`, 'prompt');
    }
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean } = {}): string {
    if (!Array.isArray(ids)) throw new InvalidRequestError('token ids must be an array of integers', 'ids');
    const skip = options.skipSpecialTokens ?? true;
    const kept: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0)
        throw new InvalidRequestError(`token ids must be non-negative integers, got ${String(id)} at index ${i}`, 'ids');
      // Ids the vocabulary lacks (a model's padded embedding rows) decode to nothing, as in
      // Hugging Face tokenizers, rather than to <unk>.
      if (this.lib.id_to_token(id) !== undefined && !(skip && this.specialIds.has(id))) kept.push(id);
    }
    if (kept.length === 0) return '';
    return this.lib.decode(kept, {
      skip_special_tokens: false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? this.cleanUpSpaces,
    });
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.lib.id_to_token(id) : undefined;
  }

  isSpecialToken(id: number): boolean {
    return this.specialIds.has(id);
  }

  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string {
    if (this.renderChat === null)
      throw new InvalidRequestError('this model has no chat template (none in tokenizer_config.json or chat_template.jinja): send a plain prompt', 'messages');
    return this.renderChat(messages, options);
  }
}

function generationEosIds(generationConfig: unknown, file: string): number[] {
  if (!isObject(generationConfig)) return [];
  const value = generationConfig.eos_token_id;
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  if (!ids.every((id) => Number.isInteger(id) && id >= 0))
    throw new ModelLoadError(`${file}: eos_token_id must be a token id or a list of them, got ${JSON.stringify(value)}`);
  return ids as number[];
}
