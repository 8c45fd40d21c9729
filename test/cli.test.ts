// The command line as users run it: `pagedinfer generate` (streamed text, --json, token-id
// prompts, seeds), `pagedinfer info`, and one-line errors with exit status 1.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';

import { buildDist, CLI } from './helpers/dist.js';
import { referenceCases } from './helpers/reference.js';
import { HAVE_SHARED, sharedPath } from './helpers/shared.js';

const cli = CLI;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, PAGEDINFER_BACKEND: 'cpu' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pagedinfer CLI', () => {
  beforeAll(buildDist);

  it('generate streams a story from the built-in model', () => {
    const r = run(['generate', 'Once upon a time', '--max-tokens', '30', '--temperature', '0']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Once upon a time, there was a little girl named Lily/);
  });

  it('generate --json prints the text, the token ids and the finish reason', () => {
    const r = run(['generate', '--json', '--prompt-ids', '1', '--max-tokens', '24', '--temperature', '0']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.finishReason).toBe('length');
    expect(out.tokenIds).toHaveLength(24);
    if (HAVE_SHARED) expect(out.tokenIds).toEqual(referenceCases('stories260K').find((c) => c.prompt === '<bos>')!.greedy_ids.slice(0, 24));
    expect(out.text).toBe('Once upon a time, there was a little girl named Lily. She loved to play outsid');  // 24 tokens end mid-word
  });

  it('a seed makes sampling reproducible', () => {
    const args = ['generate', 'The cat', '--max-tokens', '20', '--temperature', '1', '--seed', '11', '--json'];
    expect(JSON.parse(run(args).stdout).text).toBe(JSON.parse(run(args).stdout).text);
  });

  it.skipIf(!HAVE_SHARED)('runs a Hugging Face directory given with --model', () => {
    const c = referenceCases('qwen2-tiny-random')[0];
    const r = run(['generate', '--model', sharedPath('models', 'qwen2-tiny-random'), '--prompt-ids', c.ids.join(','), '--max-tokens', '10', '--temperature', '0', '--ignore-eos', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).tokenIds).toEqual(c.greedy_ids.slice(0, 10));
  });

  it('info describes the model and the backend', () => {
    const r = run(['info', '--json']);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.model.architecture).toBe('llama');
    expect(info.model.parameters).toBeGreaterThan(250_000);
    expect(info.backend.name).toBe('cpu');
    expect(info.backend.reason).toBeTruthy();
  });

  it('bad input is one clear line and exit status 1', () => {
    const bad = run(['generate', 'x', '--temperature', '-1']);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('pagedinfer: temperature must be a number >= 0, got -1');
    const missing = run(['generate', '--model', '/nonexistent/model', 'x']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
    expect(missing.stderr).not.toMatch(/at .*\.js:\d+/);  // no stack trace
  });
});
