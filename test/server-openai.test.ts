// The server through the official `openai` client, unchanged: completions and chat, streamed and
// not, n > 1, logprobs, stop sequences, usage. Chat needs a model with a chat template
// (llama-tiny-random in ../shared); the built-in stories260K has none and is refused like vLLM does.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { startServer, type TestServer } from './helpers/server.js';

function client(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
}

/** Reads a streamed completion: text per choice, finish reasons, usage, and every chunk. */
async function readCompletionStream(stream: AsyncIterable<OpenAI.Completions.Completion>) {
  const texts: string[] = [];
  const finish: (string | null)[] = [];
  const chunks: OpenAI.Completions.Completion[] = [];
  let usage: OpenAI.Completions.CompletionUsage | undefined | null = null;
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const c of chunk.choices) {
      texts[c.index] = (texts[c.index] ?? '') + c.text;
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return { texts, finish, usage, chunks };
}

describe('completions with the openai client (built-in stories260K)', () => {
  let s: TestServer;
  let openai: OpenAI;
  beforeAll(async () => {
    s = await startServer();
    openai = client(s.url);
  });
  afterAll(() => s.close());

  it('answers a completion field by field as OpenAI', async () => {
    const r = await openai.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
    expect(r.id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe('stories260K');
    expect(Math.abs(r.created - Date.now() / 1000)).toBeLessThan(60);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].index).toBe(0);
    expect(r.choices[0].text).toMatch(/^, there was a little girl named Lily/);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.choices[0].logprobs).toBeNull();
    const promptTokens = s.llm.tokenize('Once upon a time').length;
    expect(r.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: 30,
      total_tokens: promptTokens + 30,
      prompt_tokens_details: { cached_tokens: expect.any(Number) },
    });
  });

  it('defaults max_tokens to 16 as OpenAI and vLLM do, and takes token-id prompts', async () => {
    const r = await openai.completions.create({ model: 'stories260K', prompt: [1, 403, 407], temperature: 0 });
    expect(r.usage?.completion_tokens).toBe(16);
    expect(r.usage?.prompt_tokens).toBe(3);
    const text = await openai.completions.create({ model: 'stories260K', prompt: 'Once upon', temperature: 0 });
    expect(r.choices[0].text).toBe(text.choices[0].text);
  });

  it('streams the same text as the non-streamed response for the same seed, ending with usage', async () => {
    const params = { model: 'stories260K', prompt: 'The little dog', max_tokens: 40, temperature: 1, top_p: 0.9, seed: 1234 };
    const whole = await openai.completions.create(params);
    const stream = await openai.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    const got = await readCompletionStream(stream);
    expect(got.texts[0]).toBe(whole.choices[0].text);
    expect(got.finish[0]).toBe(whole.choices[0].finish_reason);
    expect(got.usage).toEqual(whole.usage);
    expect(got.chunks.length).toBeGreaterThan(5);  // token by token, not one block
    const ids = new Set(got.chunks.map((c) => c.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^cmpl-/);
    for (const c of got.chunks.slice(0, -1)) {
      expect(c.object).toBe('text_completion');
      expect(c.usage).toBeNull();  // include_usage: null on every chunk but the last
    }
    expect(got.chunks.at(-1)!.choices).toEqual([]);
    // Another seed, another text: the seed is honoured, not ignored.
    const other = await openai.completions.create({ ...params, seed: 99 });
    expect(other.choices[0].text).not.toBe(whole.choices[0].text);
  });

  it('n > 1: n choices, the same streamed and not, each reproducible', async () => {
    const params = { model: 'stories260K', prompt: 'Tim saw a cat', max_tokens: 16, temperature: 1, seed: 7, n: 3 };
    const whole = await openai.completions.create(params);
    expect(whole.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(whole.choices.map((c) => c.text)).size).toBeGreaterThan(1);
    expect(whole.usage?.completion_tokens).toBe(48);
    const got = await readCompletionStream(await openai.completions.create({ ...params, stream: true }));
    expect(got.texts).toEqual(whole.choices.map((c) => c.text));
    expect(got.finish).toEqual(['length', 'length', 'length']);
  });

  it('a batch of prompts gets n choices each, numbered prompt * n + k', async () => {
    const r = await openai.completions.create({ model: 'stories260K', prompt: ['Once upon a time', 'The cat'], max_tokens: 8, temperature: 0, n: 2 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const first = await openai.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    const second = await openai.completions.create({ model: 'stories260K', prompt: 'The cat', max_tokens: 8, temperature: 0 });
    expect(r.choices.map((c) => c.text)).toEqual([first, first, second, second].map((x) => x.choices[0].text));
    expect(r.usage?.prompt_tokens).toBe(first.usage!.prompt_tokens + second.usage!.prompt_tokens);
  });

  it('stops at a stop sequence, left out of the text, streamed and not', async () => {
    const params = { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 60, temperature: 0, stop: ['Lily'] };
    const r = await openai.completions.create(params);
    expect(r.choices[0].text).toBe(', there was a little girl named ');
    expect(r.choices[0].finish_reason).toBe('stop');
    expect((r.choices[0] as unknown as { stop_reason: unknown }).stop_reason).toBe('Lily');
    const got = await readCompletionStream(await openai.completions.create({ ...params, stream: true }));
    expect(got.texts[0]).toBe(', there was a little girl named ');
    expect(got.finish[0]).toBe('stop');
  });

  it('logprobs: chosen tokens with their text, offsets and top alternatives', async () => {
    const r = await openai.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, logprobs: 3 });
    const lp = r.choices[0].logprobs!;
    expect(lp.tokens).toHaveLength(12);
    expect(lp.tokens!.join('')).toBe(r.choices[0].text);
    expect(lp.tokens![1]).toBe(' there');  // the text a token adds, leading space included
    let offset = 0;
    for (let i = 0; i < 12; i++) {
      expect(lp.text_offset![i]).toBe(offset);
      offset += lp.tokens![i].length;
      const top = lp.top_logprobs![i];
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(3);
      expect(top[lp.tokens![i]]).toBe(lp.token_logprobs![i]);
      // Greedy: the chosen token is the most likely one.
      expect(lp.token_logprobs![i]).toBe(Math.max(...Object.values(top)));
      expect(lp.token_logprobs![i]).toBeLessThanOrEqual(0);
    }
    // Streamed, the logprobs come with each piece and add up to the same.
    const stream = await openai.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, logprobs: 3, stream: true });
    const tokens: string[] = [];
    const offsets: number[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        tokens.push(...(c.logprobs?.tokens ?? []));
        offsets.push(...(c.logprobs?.text_offset ?? []));
      }
    }
    expect(tokens).toEqual(lp.tokens);
    expect(offsets).toEqual(lp.text_offset);
  });

  it('echo puts the prompt before the completion', async () => {
    const r = await openai.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, echo: true });
    expect(r.choices[0].text).toMatch(/^Once upon a time, there was a/);
  });

  it('refuses chat for a model without a chat template, as vLLM does', async () => {
    const e = await openai.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    const err = e as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err.status).toBe(400);
    expect(err.code).toBe('chat_template_missing');
    expect(err.message).toMatch(/no chat template/);
  });

  it('lists the served model', async () => {
    const models = [];
    for await (const m of openai.models.list()) models.push(m);
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ id: 'stories260K', object: 'model', owned_by: 'pagedinfer', max_model_len: s.llm.maxModelLen });
  });
});

describe.skipIf(!HAVE_SHARED)(sharedTitle('chat completions with the openai client (llama-tiny-random, Llama-2 chat template)'), () => {
  let s: TestServer;
  let openai: OpenAI;
  const model = 'llama-tiny-random';
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Name a colour.' },
  ];
  beforeAll(async () => {
    s = await startServer({ model: sharedPath('models', 'llama-tiny-random') });
    openai = client(s.url);
  });
  afterAll(() => s?.close());

  it('answers a chat completion field by field as OpenAI', async () => {
    const r = await openai.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
    expect(r.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe(model);
    expect(r.choices).toHaveLength(1);
    const c = r.choices[0];
    expect(c.index).toBe(0);
    expect(c.message.role).toBe('assistant');
    expect(typeof c.message.content).toBe('string');
    expect(['stop', 'length']).toContain(c.finish_reason);
    expect(c.logprobs).toBeNull();
    // The prompt is the chat template's rendering, tokenized as /tokenize counts it.
    const tok = await fetch(`${s.url}/tokenize`, { method: 'POST', body: JSON.stringify({ model, messages }) }).then((x) => x.json());
    expect(r.usage?.prompt_tokens).toBe(tok.count);
    expect(r.usage?.total_tokens).toBe(tok.count + r.usage!.completion_tokens);
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(12);
  });

  it('streams the same text as the non-streamed response for the same seed', async () => {
    const params = { model, messages, max_completion_tokens: 24, temperature: 0.8, seed: 5, ignore_eos: true } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
    const whole = await openai.chat.completions.create(params);
    expect(whole.usage?.completion_tokens).toBe(24);
    expect(whole.choices[0].finish_reason).toBe('length');
    const stream = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let content = '';
    let role: string | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let first = true;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.id).toMatch(/^chatcmpl-/);
      if (first) {
        expect(chunk.choices[0].delta).toEqual({ role: 'assistant', content: '' });
        first = false;
      }
      for (const c of chunk.choices) {
        if (c.delta.role) role = c.delta.role;
        content += c.delta.content ?? '';
        if (c.finish_reason) finish = c.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(role).toBe('assistant');
    expect(content).toBe(whole.choices[0].message.content);
    expect(finish).toBe('length');
    expect(usage).toEqual(whole.usage);
  });

  it('n > 1 and logprobs with top_logprobs', async () => {
    const r = await openai.chat.completions.create({ model, messages, max_tokens: 8, temperature: 1, seed: 3, n: 2, logprobs: true, top_logprobs: 2 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of r.choices) {
      const content = c.logprobs!.content!;
      expect(content.length).toBeGreaterThan(0);
      for (const t of content) {
        expect(typeof t.token).toBe('string');
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(Array.isArray(t.bytes)).toBe(true);
        expect(t.top_logprobs).toHaveLength(2);
        expect(t.top_logprobs[0].logprob).toBeGreaterThanOrEqual(t.top_logprobs[1].logprob);
      }
      // Special tokens (an EOS) are not in the content; every other token's text is.
      const text = content.filter((t) => t.token !== '</s>').map((t) => t.token).join('');
      expect(text).toBe(c.message.content);
    }
  });

  it('stops at a stop sequence', async () => {
    const free = await openai.chat.completions.create({ model, messages, max_tokens: 20, temperature: 0, ignore_eos: true } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    const text = free.choices[0].message.content!;
    // A stop string from the middle of the free-running output.
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    expect(stop.trim().length).toBeGreaterThan(0);
    const r = await openai.chat.completions.create({ model, messages, max_tokens: 20, temperature: 0, ignore_eos: true, stop: [stop] } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('refuses what a text model cannot do, with a 400', async () => {
    const image = openai.chat.completions.create({
      model,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
    });
    await expect(image).rejects.toMatchObject({ status: 400 });
    const tools = openai.chat.completions.create({
      model,
      messages,
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
    });
    await expect(tools).rejects.toMatchObject({ status: 400, param: 'tools' });
    // Content parts of type text are joined and work.
    const parts = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: [{ type: 'text', text: 'Name a colour.' }] }], max_tokens: 2 });
    expect(parts.choices).toHaveLength(1);
  });
});
