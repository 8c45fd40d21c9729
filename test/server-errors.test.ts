// Bad requests over plain fetch: each gets the right 4xx with an OpenAI-style error object, and
// the server goes on serving everyone else. Also the API key, unknown routes and methods, and a
// request the KV cache can never hold (503).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidRequestError } from '../lib/index.js';
import { toHttpError } from '../lib/server/errors.js';
import { postJson, sseEvents, startServer, type TestServer } from './helpers/server.js';

/** An OpenAI error object, exactly: {"error": {message, type, param, code}}. */
function expectOpenAIError(json: any, param: string | null = null): void {
  expect(Object.keys(json)).toEqual(['error']);
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof json.error.message).toBe('string');
  expect(json.error.message.length).toBeGreaterThan(10);
  expect(json.error.type).toBe('invalid_request_error');
  expect(json.error.param).toBe(param);
}

describe('bad requests (built-in model)', () => {
  let s: TestServer;
  let completions: string;
  let chat: string;
  beforeAll(async () => {
    s = await startServer();
    completions = `${s.url}/v1/completions`;
    chat = `${s.url}/v1/chat/completions`;
  });
  afterAll(() => s.close());

  /** After each refusal, a good request still gets its greedy story. */
  async function stillServes(): Promise<void> {
    const r = await postJson(completions, { prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    expect(r.status).toBe(200);
    expect(r.json.choices[0].text).toMatch(/^, there was a little girl/);
  }

  it('malformed JSON, a body that is not an object, and no body at all: 400', async () => {
    for (const body of ['{"prompt": "x",', '{bad', '[1, 2]', '"text"', 'null']) {
      const r = await postJson(completions, body);
      expect(r.status, body).toBe(400);
      expectOpenAIError(r.json);
    }
    // An empty body reads as {}: the prompt is missing.
    const empty = await postJson(completions, '');
    expect(empty.status).toBe(400);
    expectOpenAIError(empty.json, 'prompt');
    expect(empty.json.error.message).toBe('prompt is required');
    const bad = await postJson(completions, '{bad');
    expect(bad.json.error.code).toBe('invalid_json');
    await stillServes();
  });

  it('an unknown model name: 404 model_not_found', async () => {
    for (const [url, body] of [
      [completions, { model: 'gpt-4o', prompt: 'x' }],
      [chat, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }],
      [`${s.url}/tokenize`, { model: 'gpt-4o', prompt: 'x' }],
    ] as const) {
      const r = await postJson(url, body);
      expect(r.status).toBe(404);
      expectOpenAIError(r.json, 'model');
      expect(r.json.error.code).toBe('model_not_found');
      expect(r.json.error.message).toMatch(/gpt-4o/);
    }
    await stillServes();
  });

  it('wrong types: 400 naming the field', async () => {
    const cases: [string, unknown, string][] = [
      [completions, { prompt: 'x', temperature: 'hot' }, 'temperature'],
      [completions, { prompt: 'x', n: '2' }, 'n'],
      [completions, { prompt: 'x', max_tokens: 1.5 }, 'max_tokens'],
      [completions, { prompt: 'x', stream: 'yes' }, 'stream'],
      [completions, { prompt: 'x', stop: 5 }, 'stop'],
      [completions, { prompt: 'x', seed: 'abc' }, 'seed'],
      [completions, { prompt: 'x', logprobs: true }, 'logprobs'],
      [completions, { prompt: 42 }, 'prompt'],
      [completions, { prompt: ['a', [1, 2]] }, 'prompt'],
      [completions, {}, 'prompt'],
      [chat, { messages: 'hello' }, 'messages'],
      [chat, { messages: [{ role: 'user', content: 7 }] }, 'messages.0.content'],
      [chat, { messages: [{ content: 'no role' }] }, 'messages.0.role'],
      [chat, { messages: [{ role: 'user', content: 'x' }], logprobs: 1 }, 'logprobs'],
      [`${s.url}/tokenize`, { prompt: 3 }, 'prompt'],
      [`${s.url}/detokenize`, { tokens: ['a'] }, 'tokens.0'],
    ];
    for (const [url, body, param] of cases) {
      const r = await postJson(url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expectOpenAIError(r.json, param);
    }
    await stillServes();
  });

  it('values out of range: 400 naming the field as the client sent it', async () => {
    const cases: [string, unknown, string][] = [
      [completions, { prompt: 'x', temperature: -1 }, 'temperature'],
      [completions, { prompt: 'x', top_p: 2 }, 'top_p'],
      [completions, { prompt: 'x', top_k: -5 }, 'top_k'],
      [completions, { prompt: 'x', n: 0 }, 'n'],
      [completions, { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
      [completions, { prompt: 'x', logprobs: 21 }, 'logprobs'],
      [completions, { prompt: 'x', presence_penalty: 3 }, 'presence_penalty'],
      [completions, { prompt: 'x', repetition_penalty: 0 }, 'repetition_penalty'],
      [completions, { prompt: 'x', stop: [''] }, 'stop'],
      [completions, { prompt: [1, 100000] }, 'prompt'],
      [completions, { prompt: [] }, 'prompt'],
      [completions, { prompt: 'x', logit_bias: { '5': 10 } }, 'logit_bias'],
      [completions, { prompt: 'x', best_of: 3 }, 'best_of'],
      [completions, { prompt: 'x', suffix: 'end' }, 'suffix'],
      [completions, { prompt: 'x', stream_options: { include_usage: true } }, 'stream_options'],
      [chat, { messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }, 'top_logprobs'],
      [`${s.url}/detokenize`, { tokens: [1, 100000] }, 'tokens'],
    ];
    for (const [url, body, param] of cases) {
      const r = await postJson(url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expectOpenAIError(r.json, param);
    }
    const r = await postJson(completions, { prompt: 'x', top_p: 2 });
    expect(r.json.error.message).toMatch(/^top_p must be/);  // snake_case, as sent
    await stillServes();
  });

  it('max_tokens beyond the context, and a prompt longer than it: 400', async () => {
    const max = s.llm.maxModelLen;
    const tooMany = await postJson(completions, { prompt: 'Once upon a time', max_tokens: max });
    expect(tooMany.status).toBe(400);
    expectOpenAIError(tooMany.json, 'max_tokens');
    expect(tooMany.json.error.message).toMatch(/max_tokens is \d+, but the prompt \(\d+ tokens\) leaves room for \d+/);
    const chatTooMany = await postJson(chat, { messages: [{ role: 'user', content: 'x' }], max_completion_tokens: max + 1 });
    expect(chatTooMany.status).toBe(400);  // refused for the missing template first; still a 400
    const longPrompt = await postJson(completions, { prompt: new Array(max + 1).fill(403) });
    expect(longPrompt.status).toBe(400);
    expectOpenAIError(longPrompt.json, 'prompt');
    await stillServes();
  });

  it('empty messages: 400', async () => {
    const r = await postJson(chat, { messages: [] });
    expect(r.status).toBe(400);
    expectOpenAIError(r.json, 'messages');
    expect(r.json.error.message).toMatch(/must not be empty/);
  });

  it('an oversized body: 413, and the server keeps serving', async () => {
    const big = JSON.stringify({ prompt: 'x'.repeat(11 * 2 ** 20) });
    const r = await postJson(completions, big);
    expect(r.status).toBe(413);
    expectOpenAIError(r.json);
    expect(r.json.error.code).toBe('request_too_large');
    await stillServes();
  });

  it('a body in an unknown encoding or charset: 415', async () => {
    const body = JSON.stringify({ prompt: 'x', max_tokens: 2 });
    for (const headers of [{ 'content-encoding': 'bogus' }, { 'content-type': 'application/json; charset=latin1' }]) {
      const r = await postJson(completions, body, headers);
      expect(r.status, JSON.stringify(headers)).toBe(415);
      expectOpenAIError(r.json);
      expect(r.json.error.code).toBe('unsupported_media_type');
    }
    // gzip is read like any client may send it.
    const { gzipSync } = await import('node:zlib');
    const zipped = await fetch(completions, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gzipSync(body) });
    expect(zipped.status).toBe(200);
    await stillServes();
  });

  it('unknown routes 404 and wrong methods 405, both as OpenAI errors', async () => {
    const nf = await fetch(`${s.url}/v1/embeddings`, { method: 'POST', body: '{}' });
    expect(nf.status).toBe(404);
    expectOpenAIError(await nf.json());
    const wrong = await fetch(completions);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expectOpenAIError(await wrong.json());
  });

  it('bad requests in flight beside a stream leave the stream whole', async () => {
    const params = { prompt: 'Once upon a time', max_tokens: 40, temperature: 0 };
    const streamed = fetch(completions, { method: 'POST', body: JSON.stringify({ ...params, stream: true }) }).then((x) => x.text());
    const bad = await Promise.all([
      postJson(completions, '{oops'),
      postJson(completions, { prompt: 'x', temperature: 'x' }),
      postJson(chat, { messages: [] }),
      postJson(completions, { prompt: 'x', model: 'nope' }),
      postJson(completions, { prompt: 'x', max_tokens: 10 ** 6 }),
    ]);
    expect(bad.map((b) => b.status)).toEqual([400, 400, 400, 404, 400]);
    const events = sseEvents(await streamed);
    expect(events.at(-1)).toBe('[DONE]');
    const text = (events.slice(0, -1) as any[]).map((e) => e.choices[0].text).join('');
    const alone = await postJson(completions, params);
    expect(text).toBe(alone.json.choices[0].text);
  });
});

describe('API key', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ apiKey: 'sk-test-123' });
  });
  afterAll(() => s.close());

  it('every route but /health needs the bearer key: 401 without it or with a wrong one', async () => {
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    const body = { prompt: 'Once upon a time', max_tokens: 4 };
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'sk-test-123' }, { authorization: 'Basic sk-test-123' }]) {
      const r = await postJson(`${s.url}/v1/completions`, body, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expectOpenAIError(r.json);
      expect(r.json.error.code).toBe('invalid_api_key');
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
    for (const path of ['/v1/models', '/metrics']) expect((await fetch(`${s.url}${path}`)).status).toBe(401);
    expect((await postJson(`${s.url}/tokenize`, { prompt: 'x' })).status).toBe(401);
    const ok = await postJson(`${s.url}/v1/completions`, body, { authorization: 'Bearer sk-test-123' });
    expect(ok.status).toBe(200);
    expect(ok.json.usage.completion_tokens).toBe(4);
    const models = await fetch(`${s.url}/v1/models`, { headers: { authorization: 'Bearer sk-test-123' } });
    expect(models.status).toBe(200);
  });
});

describe('a request the KV cache can never hold', () => {
  let s: TestServer;
  beforeAll(async () => {
    // Learn the block size in bytes from a default load, then serve with a cache of 4 blocks (64 tokens).
    const probe = await startServer();
    const bytesPerBlock = probe.llm.info.kvCache.bytesPerBlock;
    await probe.close();
    s = await startServer({ load: { kvCacheBytes: 4 * bytesPerBlock } });
  });
  afterAll(() => s.close());

  it('gets 503 and the server keeps serving requests that fit', async () => {
    expect(s.llm.info.kvCache.blocks).toBe(4);
    const r = await postJson(`${s.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 200 });
    expect(r.status).toBe(503);
    expect(r.json.error.type).toBe('server_error');
    expect(r.json.error.code).toBe('capacity_exceeded');
    expect(r.json.error.message).toMatch(/KV blocks/);
    const ok = await postJson(`${s.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
    expect(ok.status).toBe(200);
    expect(ok.json.choices[0].text).toMatch(/^, there was a little girl named Lily/);
  });
});

describe('error mapping', () => {
  it('unexpected errors are 500 server_error; library errors keep their meaning', () => {
    const e = toHttpError(new TypeError('x is undefined'));
    expect(e.status).toBe(500);
    expect(e.body()).toEqual({ error: { message: 'internal server error: x is undefined', type: 'server_error', param: null, code: 'internal_error' } });
    const bad = toHttpError(new InvalidRequestError('maxTokens is 9, but the prompt (3 tokens) leaves room for 2', 'maxTokens'), { maxTokens: 'max_completion_tokens' });
    expect(bad.status).toBe(400);
    expect(bad.body().error).toMatchObject({ param: 'max_completion_tokens', message: 'max_completion_tokens is 9, but the prompt (3 tokens) leaves room for 2' });
  });
});
