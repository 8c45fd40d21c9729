// The public API end to end: the built-in model, streaming vs non-streaming, seeds, abort, token-id
// prompts, chat templates, and bad requests that fail alone while the model keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidRequestError, loadModel, type LLM } from '../lib/index.js';
import { referenceCases } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';

describe('loadModel() with the built-in model (stories260K)', () => {
  let llm: LLM;
  beforeAll(async () => {
    llm = await loadModel(undefined, { backend: 'cpu' });
  });
  afterAll(() => llm.close());

  it('streams a story whose chunks concatenate to the non-streaming text', async () => {
    let streamed = '';
    const ids: number[] = [];
    let finish: string | null = null;
    for await (const chunk of llm.generate('Once upon a time', { maxTokens: 40, temperature: 0 })) {
      streamed += chunk.text;
      ids.push(...chunk.tokenIds);
      if (chunk.finishReason) finish = chunk.finishReason;
    }
    const whole = await llm.complete('Once upon a time', { maxTokens: 40, temperature: 0 });
    expect(streamed).toBe(whole.text);
    expect(ids).toEqual(whole.tokenIds);
    expect(finish).toBe('length');
    expect(whole.text).toMatch(/^, there was a little girl named Lily/);
    expect(whole.usage).toMatchObject({ promptTokens: whole.promptTokenIds.length, completionTokens: 40 });
  });

  it('gives the reference greedy tokens from BOS as token ids', async () => {
    const bosCase = referenceCases('stories260K').find((c) => c.prompt === '<bos>');
    if (!HAVE_SHARED || !bosCase) return;
    const r = await llm.complete({ promptTokenIds: [1] }, { maxTokens: 100, temperature: 0, ignoreEos: true });
    expect(r.tokenIds).toEqual(bosCase.greedy_ids.slice(0, 100));
  });

  it('same seed, same text; another seed, another text', async () => {
    const params = { maxTokens: 30, temperature: 1, topP: 0.95, seed: 42 };
    const a = await llm.complete('The dog', params);
    const b = await llm.complete('The dog', params);
    const c = await llm.complete('The dog', { ...params, seed: 43 });
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
  });

  it('n > 1 returns n outputs, each reproducible by seed', async () => {
    const r = await llm.complete('Tim saw a cat', { n: 3, maxTokens: 12, temperature: 1, seed: 7 });
    expect(r.outputs).toHaveLength(3);
    const again = await llm.complete('Tim saw a cat', { n: 3, maxTokens: 12, temperature: 1, seed: 7 });
    expect(again.outputs.map((o) => o.text)).toEqual(r.outputs.map((o) => o.text));
    expect(new Set(r.outputs.map((o) => o.text)).size).toBeGreaterThan(1);
  });

  it('stops at a stop string, which is left out', async () => {
    const r = await llm.complete('Once upon a time', { maxTokens: 60, temperature: 0, stop: ['Lily'] });
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(', there was a little girl named ');
    expect(r.outputs[0].stopReason).toBe('Lily');
  });

  it('returns logprobs of the chosen tokens and the top alternatives', async () => {
    const r = await llm.complete('Once upon a time', { maxTokens: 5, temperature: 0, logprobs: 3 });
    expect(r.outputs[0].logprobs).toHaveLength(5);
    for (const [i, lp] of r.outputs[0].logprobs!.entries()) {
      expect(lp.token).toBe(r.tokenIds[i]);
      expect(lp.top).toHaveLength(3);
      expect(lp.top[0].token).toBe(lp.token);  // greedy picks the most likely
      expect(lp.logprob).toBeLessThanOrEqual(0);
    }
  });

  it('aborts mid-stream promptly and frees the request', async () => {
    const controller = new AbortController();
    let chunks = 0;
    let last: string | null = null;
    for await (const chunk of llm.generate('Once upon a time', { maxTokens: 500, ignoreEos: true }, { signal: controller.signal })) {
      chunks++;
      last = chunk.finishReason;
      if (chunks === 3) controller.abort();
    }
    expect(last).toBe('abort');
    expect(chunks).toBeLessThan(10);
    expect(llm.stats().numRunning).toBe(0);
  });

  it('rejects bad requests with a typed error and keeps serving', async () => {
    expect(() => llm.generate('x', { temperature: -1 })).toThrow(InvalidRequestError);
    expect(() => llm.generate('x', { topP: 2 })).toThrow(/topP/);
    expect(() => llm.generate('x', { maxTokens: 0 })).toThrow(/maxTokens/);
    expect(() => llm.generate({ promptTokenIds: [1, 99999] })).toThrow(/promptTokenIds/);
    expect(() => llm.generate({ promptTokenIds: new Array(3000).fill(5) })).toThrow(/context/);
    expect(() => llm.generate([])).toThrow(/messages/);
    const r = await llm.complete('Lily', { maxTokens: 5, temperature: 0 });
    expect(r.tokenIds).toHaveLength(5);
  });

  it('describes itself', () => {
    const info = llm.info;
    expect(info.config.architecture).toBe('llama');
    expect(info.backend.name).toBe('cpu');
    expect(info.parameters).toBeGreaterThan(250_000);
    expect(info.kvCache.blocks).toBeGreaterThan(0);
    // loadModel's phases: each timed, the weights' bytes those of the model (float32 here).
    expect(info.load?.weightBytes).toBe(4 * info.parameters);
    for (const phase of ['modelFiles', 'weights', 'engine'] as const) expect(info.load?.[phase]).toBeGreaterThan(0);
  });
});

describe.skipIf(!HAVE_SHARED)(sharedTitle('chat templates through the API'), () => {
  it('renders messages with the model\'s template and generates from them', async () => {
    const llm = await loadModel(sharedPath('models', 'llama-tiny-random'), { backend: 'cpu' });
    try {
      const messages = [{ role: 'user', content: 'Hello there' }];
      const ids = llm.tokenize(messages);
      // As transformers and vLLM: the template writes whatever special tokens it wants (this one
      // writes no BOS), and encoding adds none on top.
      const rendered = llm.tokenizer!.applyChatTemplate(messages, { addGenerationPrompt: true });
      expect(rendered).toBe('[INST] Hello there [/INST]');
      expect(ids).toEqual(llm.tokenizer!.encode(rendered, { addSpecialTokens: false }));
      const r = await llm.complete([{ role: 'user', content: 'Hello there' }], { maxTokens: 8, temperature: 0 });
      expect(r.tokenIds.length).toBeGreaterThan(0);
    } finally {
      await llm.close();
    }
  });

  it('a model without a tokenizer takes token ids and says so for text', async () => {
    const llm = await loadModel(sharedPath('models', 'qwen3-tiny-random'), { backend: 'cpu' });
    try {
      expect(() => llm.generate('hello')).toThrow(/promptTokenIds/);
      const c = referenceCases('qwen3-tiny-random')[0];
      const r = await llm.complete({ promptTokenIds: c.ids }, { maxTokens: 16, temperature: 0, ignoreEos: true });
      expect(r.tokenIds).toEqual(c.greedy_ids.slice(0, 16));
    } finally {
      await llm.close();
    }
  });
});
