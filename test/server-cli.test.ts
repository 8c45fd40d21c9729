// `pagedinfer serve` as users run it: the built-in model on a free port, JSON log lines, the API
// key from PAGEDINFER_API_KEY, a clean stop on SIGTERM, and one-line errors for bad options.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

import { beforeAll, describe, expect, it } from 'vitest';

import { buildDist, CLI } from './helpers/dist.js';
import { postJson, sseEvents, waitFor } from './helpers/server.js';

const cli = CLI;
const env = { ...process.env, PAGEDINFER_BACKEND: 'cpu' };

interface Running {
  child: ChildProcessWithoutNullStreams;
  url: string;
  logs: Record<string, unknown>[];
}

/** Starts `pagedinfer serve ARGS` and waits for its "listening" log line. */
async function serve(args: string[], extraEnv: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--kv-cache-bytes', String(2 ** 24), ...args], {
    env: { ...env, ...extraEnv },
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;  // every line is one JSON object
      logs.push(entry);
      if (entry.msg === 'listening') resolve(entry.url as string);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, logs };
}

describe('pagedinfer serve', () => {
  beforeAll(buildDist);

  it('serves the built-in model behind PAGEDINFER_API_KEY and stops cleanly on SIGTERM', async () => {
    const { child, url, logs } = await serve([], { PAGEDINFER_API_KEY: 'sk-cli' });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // A server caps the prefill of steps that carry decodes unless told otherwise (docs/server.md).
    expect(logs.find((l) => l.msg === 'model loaded')).toMatchObject({ model: 'stories260K', backend: 'cpu', level: 30, maxPrefillTokensWhileDecoding: 384 });
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    const models = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sk-cli' } }).then((r) => r.json());
    expect(models.data[0].id).toBe('stories260K');
    const r = await postJson(`${url}/v1/completions`, { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }, { authorization: 'Bearer sk-cli' });
    expect(r.status).toBe(200);
    expect(r.json.choices[0].text).toMatch(/^, there was a little girl/);
    // Each request is logged with its status, never with its headers (the key).
    const isCompletionLog = (l: Record<string, unknown>) => l.msg === 'request completed' && (l.req as { url: string }).url === '/v1/completions';
    await waitFor(() => logs.some(isCompletionLog), 5000, 'the request log line');
    expect(logs.find(isCompletionLog)).toMatchObject({ level: 30, res: { statusCode: 200 }, responseTime: expect.any(Number) });
    const unauthorized = logs.find((l) => l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode === 401);
    expect(unauthorized).toMatchObject({ level: 40 });  // client errors log as warnings
    expect(JSON.stringify(logs)).not.toContain('sk-cli');

    // A stream still running at shutdown ends with an error event and [DONE], not a cut connection.
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-cli' },
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 2000, ignore_eos: true, stream: true }),
    });
    const reader = res.body!.getReader();
    let body = new TextDecoder().decode((await reader.read()).value);
    child.kill('SIGTERM');
    for (let r = await reader.read(); !r.done; r = await reader.read()) body += new TextDecoder().decode(r.value);
    const events = sseEvents(body);
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.at(-2)).toMatchObject({ error: { code: 'aborted', type: 'server_error' } });
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(logs.map((l) => l.msg)).toContain('stopped');
  });

  it('--api-key and --served-model-name on the command line', async () => {
    const { child, url } = await serve(['--api-key', 'k2', '--served-model-name', 'tiny-stories', '--log-level', 'info']);
    const ok = await postJson(`${url}/v1/completions`, { model: 'tiny-stories', prompt: 'Once', max_tokens: 2 }, { authorization: 'Bearer k2' });
    expect(ok.status).toBe(200);
    expect(ok.json.model).toBe('tiny-stories');
    const wrong = await postJson(`${url}/v1/completions`, { model: 'stories260K', prompt: 'Once', max_tokens: 2 }, { authorization: 'Bearer k2' });
    expect(wrong.status).toBe(404);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('bad options and a port in use are one clear line and exit status 1', async () => {
    const bad = spawnSync(process.execPath, [cli, 'serve', '--port', 'eighty'], { encoding: 'utf8', env });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--port must be an integer/);
    const level = spawnSync(process.execPath, [cli, 'serve', '--log-level', 'loud'], { encoding: 'utf8', env });
    expect(level.status).toBe(1);
    expect(level.stderr).toMatch(/--log-level/);

    const first = await serve(['--log-level', 'info']);
    const port = new URL(first.url).port;
    const taken = spawnSync(process.execPath, [cli, 'serve', '--port', port, '--kv-cache-bytes', String(2 ** 24), '--log-level', 'silent'], { encoding: 'utf8', env });
    expect(taken.status).toBe(1);
    expect(taken.stderr.trim()).toMatch(new RegExp(`^pagedinfer: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    first.child.kill('SIGTERM');
    await once(first.child, 'exit');
  });
});
