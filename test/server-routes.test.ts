// The routes beside generation (/health, /v1/models, /tokenize, /detokenize, /metrics), the
// server embedded in someone else's node:http or Express server, and a graceful close.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createServer } from '../lib/index.js';
import { histogramCount, parseExposition, sampleValue, type MetricFamily } from './helpers/prometheus.js';
import { postJson, sseEvents, startServer, waitFor, type TestServer } from './helpers/server.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';

async function metrics(url: string): Promise<MetricFamily[]> {
  const r = await fetch(`${url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await r.text());
}

describe('routes of the built-in model', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.close());

  it('/health answers 200 with no body', async () => {
    const r = await fetch(`${s.url}/health`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('');
  });

  it('/v1/models lists the model with its context', async () => {
    const r = await fetch(`${s.url}/v1/models`).then((x) => x.json());
    expect(r).toEqual({
      object: 'list',
      data: [
        {
          id: 'stories260K',
          object: 'model',
          created: expect.any(Number),
          owned_by: 'pagedinfer',
          root: s.llm.info.source.path,
          parent: null,
          max_model_len: s.llm.maxModelLen,
        },
      ],
    });
  });

  it('/tokenize and /detokenize in vLLM shapes, round trip', async () => {
    const t = await postJson(`${s.url}/tokenize`, { prompt: 'Once upon a time', return_token_strs: true });
    expect(t.status).toBe(200);
    expect(t.json.tokens).toEqual(s.llm.tokenize('Once upon a time'));
    expect(t.json.tokens[0]).toBe(1);  // BOS by default, as in a completion
    expect(t.json).toMatchObject({ count: t.json.tokens.length, max_model_len: s.llm.maxModelLen });
    expect(t.json.token_strs).toEqual(['<s>', '▁Once', '▁upon', '▁a', '▁time']);
    const plain = await postJson(`${s.url}/tokenize`, { model: 'stories260K', prompt: 'Once upon a time', add_special_tokens: false });
    expect(plain.json.tokens).toEqual(t.json.tokens.slice(1));
    expect(plain.json.token_strs).toBeNull();
    const d = await postJson(`${s.url}/detokenize`, { tokens: t.json.tokens });
    expect(d.status).toBe(200);
    expect(d.json).toEqual({ prompt: 'Once upon a time' });
    // Chat messages need the template this model lacks.
    const chat = await postJson(`${s.url}/tokenize`, { messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.status).toBe(400);
    expect(chat.json.error.code).toBe('chat_template_missing');
  });

  it('/metrics: vLLM-named series with a model_name label that move as requests complete', async () => {
    const m = { model_name: 'stories260K' };
    const before = await metrics(s.url);
    for (const [name, type] of [
      ['pagedinfer:num_requests_running', 'gauge'],
      ['pagedinfer:num_requests_waiting', 'gauge'],
      ['pagedinfer:kv_cache_usage_perc', 'gauge'],
      ['pagedinfer:prefix_cache_queries_total', 'counter'],
      ['pagedinfer:prefix_cache_hits_total', 'counter'],
      ['pagedinfer:prompt_tokens_total', 'counter'],
      ['pagedinfer:generation_tokens_total', 'counter'],
    ] as const) {
      expect(Number.isFinite(sampleValue(before, name, type, m)), name).toBe(true);
    }
    const value = (f: MetricFamily[], name: string) => sampleValue(f, name, 'counter', m);
    const success = (f: MetricFamily[], reason: string) => sampleValue(f, 'pagedinfer:request_success_total', 'counter', { ...m, finished_reason: reason });
    const hist = (f: MetricFamily[], name: string) => histogramCount(f, `pagedinfer:${name}`, m);

    // Two requests with the same 40-token prompt (the second finds its full blocks cached), one
    // ending at its length and one at a stop string.
    const prompt = Array.from({ length: 40 }, (_, i) => 300 + i);
    const a = await postJson(`${s.url}/v1/completions`, { prompt, max_tokens: 10, temperature: 0, ignore_eos: true });
    const b = await postJson(`${s.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: ['Lily'] });
    const c = await postJson(`${s.url}/v1/completions`, { prompt, max_tokens: 5, temperature: 0, ignore_eos: true });
    expect([a.json.choices[0].finish_reason, b.json.choices[0].finish_reason]).toEqual(['length', 'stop']);
    const after = await metrics(s.url);

    const promptTokens = a.json.usage.prompt_tokens + b.json.usage.prompt_tokens + c.json.usage.prompt_tokens;
    const generated = a.json.usage.completion_tokens + b.json.usage.completion_tokens + c.json.usage.completion_tokens;
    expect(value(after, 'pagedinfer:prompt_tokens_total') - value(before, 'pagedinfer:prompt_tokens_total')).toBe(promptTokens);
    expect(value(after, 'pagedinfer:generation_tokens_total') - value(before, 'pagedinfer:generation_tokens_total')).toBe(generated);
    expect(value(after, 'pagedinfer:prefix_cache_queries_total') - value(before, 'pagedinfer:prefix_cache_queries_total')).toBe(promptTokens);
    // The third request reuses the first's two full 16-token blocks.
    expect(c.json.usage.prompt_tokens_details.cached_tokens).toBe(32);
    expect(value(after, 'pagedinfer:prefix_cache_hits_total') - value(before, 'pagedinfer:prefix_cache_hits_total')).toBe(32);
    expect(success(after, 'length') - success(before, 'length')).toBe(2);
    expect(success(after, 'stop') - success(before, 'stop')).toBe(1);
    expect(success(after, 'abort') - success(before, 'abort')).toBe(0);
    for (const name of ['time_to_first_token_seconds', 'e2e_request_latency_seconds', 'request_queue_time_seconds'])
      expect(hist(after, name) - hist(before, name), name).toBe(3);
    // One latency between consecutive tokens: (10 - 1) + (tokens of b - 1) + (5 - 1).
    expect(hist(after, 'inter_token_latency_seconds') - hist(before, 'inter_token_latency_seconds')).toBe(generated - 3);
    expect(sampleValue(after, 'pagedinfer:num_requests_running', 'gauge', m)).toBe(0);
    expect(sampleValue(after, 'pagedinfer:kv_cache_usage_perc', 'gauge', m)).toBe(0);
  });

  it('/metrics: the running gauge and KV usage while a stream runs', async () => {
    const controller = new AbortController();
    const res = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 1500, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    const during = await metrics(s.url);
    controller.abort();
    expect(sampleValue(during, 'pagedinfer:num_requests_running', 'gauge', { model_name: 'stories260K' })).toBe(1);
    expect(sampleValue(during, 'pagedinfer:kv_cache_usage_perc', 'gauge', { model_name: 'stories260K' })).toBeGreaterThan(0);
    await waitFor(() => s.llm.stats().numRunning === 0);
    const after = await metrics(s.url);
    expect(sampleValue(after, 'pagedinfer:request_success_total', 'counter', { model_name: 'stories260K', finished_reason: 'abort' })).toBe(1);
  });
});

describe('embedding the server', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.close());

  async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('its handler serves from a plain node:http server', async () => {
    const api = createServer(s.llm, { modelName: 'my-model' });
    const host = await serve(api.handler);
    const r = await postJson(`${host.url}/v1/completions`, { model: 'my-model', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    expect(r.status).toBe(200);
    expect(r.json.model).toBe('my-model');
    expect(r.json.choices[0].text).toMatch(/^, there was a/);
    await host.close();
    await api.close();
  });

  it('mounts under a path of an existing Express app, beside its own routes', async () => {
    const api = createServer(s.llm);
    const app = express();
    app.get('/', (_req, res) => {
      res.send('home');
    });
    app.use('/llm', api.handler);
    const host = await serve(app);
    expect(await fetch(host.url).then((x) => x.text())).toBe('home');
    const events = sseEvents(
      await fetch(`${host.url}/llm/v1/completions`, {
        method: 'POST',
        body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true }),
      }).then((x) => x.text()),
    );
    expect(events.at(-1)).toBe('[DONE]');
    expect((events.slice(0, -1) as any[]).map((e) => e.choices[0].text).join('')).toMatch(/^, there was a/);
    expect((await fetch(`${host.url}/llm/health`)).status).toBe(200);
    await host.close();
    await api.close();
  });

  it('close() lets a response in progress finish, then refuses connections', async () => {
    const api = createServer(s.llm);
    const { url } = await api.listen({ port: 0 });
    const streaming = fetch(`${url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 200, ignore_eos: true, temperature: 0, stream: true }),
    }).then((x) => x.text());
    await waitFor(() => s.llm.stats().numRunning === 1);
    await api.close();
    const events = sseEvents(await streaming);
    expect(events.at(-1)).toBe('[DONE]');
    expect((events.at(-2) as any).choices[0].finish_reason).toBe('length');
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});

describe.skipIf(!HAVE_SHARED)(sharedTitle('/tokenize of chat messages (llama-tiny-random)'), () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ model: sharedPath('models', 'llama-tiny-random') });
  });
  afterAll(() => s?.close());

  it('renders the chat template, with the generation prompt by default', async () => {
    const messages = [{ role: 'user', content: 'Name a colour.' }];
    const r = await postJson(`${s.url}/tokenize`, { messages, return_token_strs: true });
    expect(r.status).toBe(200);
    const rendered = s.llm.tokenizer!.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(rendered).toBe('[INST] Name a colour. [/INST]');
    expect(r.json.tokens).toEqual(s.llm.tokenizer!.encode(rendered, { addSpecialTokens: false }));
    expect(r.json.count).toBe(r.json.tokens.length);
    expect(r.json.token_strs.join('')).toBe('▁[INST]▁Name▁a▁colour.▁[/INST]');
  });
});

describe('shutting down the model under the server', () => {
  it('a client still waiting for a non-streamed answer gets 503, and the server does not crash', async () => {
    const s = await startServer();
    const waiting = postJson(`${s.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 2000, ignore_eos: true });
    await waitFor(() => s.llm.stats().numRunning === 1);
    await s.llm.close();
    const r = await waiting;
    expect(r.status).toBe(503);
    expect(r.json.error).toMatchObject({ type: 'server_error', code: 'aborted' });
    // New requests are refused the same way while the server itself keeps answering.
    const after = await postJson(`${s.url}/v1/completions`, { prompt: 'x', max_tokens: 2 });
    expect(after.status).toBe(503);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    await s.server.close();
  });
});
