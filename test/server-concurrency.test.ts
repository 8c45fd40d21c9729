// Many clients at once, and clients that leave: 64 simultaneous greedy streams each get exactly
// the text they get alone (continuous batching does not leak between requests), and clients that
// disconnect mid-stream leave no running request and no used KV block behind.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FinishedRequest } from '../lib/index.js';
import { postJson, startServer, waitFor, type TestServer } from './helpers/server.js';

const NAMES = ['Lily', 'Tom', 'The dog', 'A little bird', 'Sue', 'The big cat', 'Ben', 'Mom'];
const ACTIONS = ['went to the park', 'saw a', 'was sad because', 'liked to', 'found a box', 'said', 'ran to the', 'wanted'];

describe('concurrency and disconnects (built-in model)', () => {
  let s: TestServer;
  let openai: OpenAI;
  beforeAll(async () => {
    s = await startServer();
    openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => s.close());

  it('64 simultaneous streaming requests all complete, each with its text alone (greedy)', async () => {
    const requests = Array.from({ length: 64 }, (_, i) => ({
      model: 'stories260K',
      prompt: `${NAMES[i % 8]} ${ACTIONS[Math.floor(i / 8)]}`,
      max_tokens: 16 + (i % 5) * 8,  // they finish at different steps
      temperature: 0,
    }));
    const alone: string[] = [];
    for (const r of requests) alone.push((await openai.completions.create(r)).choices[0].text);
    expect(new Set(alone).size).toBeGreaterThan(32);  // distinct requests, not one answer 64 times

    let maxRunning = 0;
    const sampler = setInterval(() => (maxRunning = Math.max(maxRunning, s.llm.stats().numRunning)), 2);
    const together = await Promise.all(
      requests.map(async (r) => {
        let text = '';
        let finish: string | null = null;
        for await (const chunk of await openai.completions.create({ ...r, stream: true })) {
          text += chunk.choices[0]?.text ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        return { text, finish };
      }),
    );
    clearInterval(sampler);
    expect(together.map((t) => t.text)).toEqual(alone);
    expect(together.every((t) => t.finish === 'length' || t.finish === 'stop')).toBe(true);
    expect(maxRunning).toBeGreaterThan(8);  // they really ran in batches
    const stats = s.llm.stats();
    expect(stats.numRunning + stats.numWaiting).toBe(0);
  });

  it('clients that disconnect mid-stream (or before a non-streamed answer) leave nothing running', async () => {
    const finished: FinishedRequest[] = [];
    const stop = s.llm.onRequestFinished((r) => finished.push(r));
    const long = { prompt: 'Once upon a time', max_tokens: 2000, temperature: 1, ignore_eos: true };
    const url = `${s.url}/v1/completions`;
    const streams = [1, 1, 1, 1, 1, 1, 3].map(async (n, i) => {
      const controller = new AbortController();
      const res = await fetch(url, { method: 'POST', body: JSON.stringify({ ...long, n, seed: i, stream: true }), signal: controller.signal });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      // Read a few events, so the request is surely generating, then hang up.
      let received = '';
      while ((received.match(/\n\n/g) ?? []).length < 3) received += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
      return received;
    });
    // A non-streaming client that gives up waiting.
    const impatient = new AbortController();
    const waiting = fetch(url, { method: 'POST', body: JSON.stringify(long), signal: impatient.signal }).catch((e: Error) => e.name);
    await waitFor(() => s.llm.stats().numRunning >= 8, 10_000, 'all requests running');
    const beforeStats = s.llm.stats();
    expect(beforeStats.numFreeBlocks).toBeLessThan(beforeStats.numBlocks);
    impatient.abort();
    await Promise.all(streams);
    expect(await waiting).toBe('AbortError');

    await waitFor(() => {
      const st = s.llm.stats();
      return st.numRunning === 0 && st.numWaiting === 0 && st.numFreeBlocks === st.numBlocks;
    }, 10_000, 'every request ended and every KV block freed');
    expect(s.llm.stats().kvCacheUsage).toBe(0);
    stop();
    // They ended because their clients left, long before their 2000 tokens.
    expect(finished).toHaveLength(8);
    for (const r of finished) {
      expect(r.finishReasons.every((f) => f === 'abort')).toBe(true);
      expect(r.completionTokens).toBeLessThan(2000 * r.finishReasons.length);
    }
    // And the server goes on.
    const after = await postJson(url, { prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    expect(after.status).toBe(200);
    expect(after.json.choices[0].text).toMatch(/^, there was a little girl/);
  });
});
