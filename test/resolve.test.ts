import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../lib/errors.js';
import { readGgufFile } from '../lib/model/gguf.js';
import { resolveModel } from '../lib/model/resolve.js';
import { kvString, writeGguf } from './helpers/gguf-writer.js';
import { HAVE_SHARED, sharedPath } from './helpers/shared.js';

// Layouts as huggingface_hub and Ollama write them, built in a temporary directory: the hub
// cache's snapshots are symlinks into blobs/, Ollama's blobs are named by their sha256.
let root: string;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const gguf = (name: string) => writeGguf({ kv: [kvString('general.name', name)] });
// A real model file where ../shared is present (so the blob is a GGUF the loader can read), else a written one.
const modelBytes = (): Uint8Array => (HAVE_SHARED ? readFileSync(sharedPath('models', 'gguf', 'stories260K-Q8_0.gguf')) : gguf('stories'));

function write(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

/** A repo in a hub cache: blobs/<sha>, snapshots/<rev>/<file> → ../../blobs/<sha>, refs/main = rev. */
function hfRepo(hub: string, repoId: string, files: Record<string, string | Uint8Array>, rev = 'a1b2c3d4e5f6', withRef = true): string {
  const repo = path.join(hub, `models--${repoId.replace('/', '--')}`);
  for (const [name, data] of Object.entries(files)) {
    const hash = sha256(typeof data === 'string' ? Buffer.from(data) : data);
    write(path.join(repo, 'blobs', hash), data);
    mkdirSync(path.join(repo, 'snapshots', rev), { recursive: true });
    symlinkSync(path.join('..', '..', 'blobs', hash), path.join(repo, 'snapshots', rev, name));
  }
  if (withRef) write(path.join(repo, 'refs', 'main'), rev);
  return path.join(repo, 'snapshots', rev);
}

/** A model in an Ollama store: manifests/<host>/<ns>/<name>/<tag> → blobs/sha256-<hex>. */
function ollamaModel(store: string, manifestPath: string, bytes: Uint8Array, mediaType = 'application/vnd.ollama.image.model'): string {
  const hex = sha256(bytes);
  const blob = path.join(store, 'blobs', `sha256-${hex}`);
  write(blob, bytes);
  const config = { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 };
  const layers = [
    { mediaType, digest: `sha256:${hex}`, size: bytes.length },
    { mediaType: 'application/vnd.ollama.image.template', digest: `sha256:${'1'.repeat(64)}`, size: 10 },
  ];
  write(path.join(store, 'manifests', manifestPath), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config, layers }));
  return blob;
}

const none = {}; // an environment with none of the variables set

describe('resolveModel', () => {
  let home: string, hub: string, ollama: string;
  let hfDir: string, q8: string, ollamaBlob: string;

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'pagedinfer-resolve-'));
    home = path.join(root, 'home');
    hub = path.join(root, 'hub');
    ollama = path.join(root, 'ollama');
    hfDir = hfRepo(hub, 'tiny/stories', { 'config.json': '{"model_type":"llama"}', 'model.safetensors': 'x' });
    const ggufRepo = hfRepo(hub, 'tiny/stories-GGUF', { 'stories-F32.gguf': gguf('f32'), 'stories-Q8_0.gguf': modelBytes() });
    q8 = path.join(ggufRepo, 'stories-Q8_0.gguf');
    hfRepo(hub, 'tiny/no-ref', { 'one.gguf': gguf('one') }, 'ffff0000', false);
    ollamaBlob = ollamaModel(ollama, 'registry.ollama.ai/library/stories/latest', modelBytes());
    ollamaModel(ollama, 'registry.ollama.ai/library/stories/260k', gguf('tagged'));
    ollamaModel(ollama, 'registry.ollama.ai/someone/stories/q8', gguf('namespaced'));
    ollamaModel(ollama, 'hf.co/tiny/stories-GGUF/Q8_0', gguf('from-hf'));
    ollamaModel(ollama, 'registry.ollama.ai/library/adapter/latest', gguf('adapter'), 'application/vnd.ollama.image.adapter');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('takes paths as they are: a model directory, a .gguf file, an extensionless GGUF blob', async () => {
    expect(await resolveModel(hfDir)).toEqual({ format: 'hf-dir', path: hfDir });
    expect(await resolveModel(q8)).toEqual({ format: 'gguf', path: q8 });
    expect(await resolveModel(ollamaBlob)).toEqual({ format: 'gguf', path: ollamaBlob });
    // Relative to cwd, and ~/ from the home directory.
    expect(await resolveModel(path.relative(root, q8), { cwd: root })).toEqual({ format: 'gguf', path: q8 });
    write(path.join(home, 'm', 'x.gguf'), gguf('home'));
    expect(await resolveModel('~/m/x.gguf', { homeDir: home })).toEqual({ format: 'gguf', path: path.join(home, 'm', 'x.gguf') });
    // A directory with a single .gguf (LM Studio's layout) is that file.
    expect(await resolveModel(path.join(home, 'm'))).toEqual({ format: 'gguf', path: path.join(home, 'm', 'x.gguf') });
  });

  it('rejects paths that are not models, saying why', async () => {
    write(path.join(root, 'notes.txt'), 'hello');
    await expect(resolveModel(path.join(root, 'notes.txt'))).rejects.toThrow(/is not a GGUF file/);
    mkdirSync(path.join(root, 'empty'), { recursive: true });
    await expect(resolveModel(path.join(root, 'empty'))).rejects.toThrow(/no config.json and no .gguf file/);
    await expect(resolveModel(path.dirname(q8))).rejects.toThrow(/several .gguf files \(stories-F32.gguf, stories-Q8_0.gguf\): name one/);
    await expect(resolveModel('./missing/model.gguf', { cwd: root, env: { HF_HUB_CACHE: hub, OLLAMA_MODELS: ollama } })).rejects.toThrow(
      new RegExp(`not found. Looked for:\\n  - a file or directory ${root}/missing/model.gguf \\(not found\\)\\nPass`),
    );
    await expect(resolveModel('')).rejects.toThrow(ModelLoadError);
  });

  it('finds a Hugging Face repo id in the hub cache (HF_HUB_CACHE)', async () => {
    const env = { HF_HUB_CACHE: hub };
    expect(await resolveModel('tiny/stories', { env, cwd: root })).toEqual({ format: 'hf-dir', path: hfDir });
    // A GGUF repo: ORG/NAME:QUANT picks the file, as llama.cpp's -hf does.
    expect(await resolveModel('tiny/stories-GGUF:Q8_0', { env, cwd: root })).toEqual({ format: 'gguf', path: q8 });
    expect(await resolveModel('tiny/stories-GGUF:q8_0', { env, cwd: root })).toEqual({ format: 'gguf', path: q8 });
    await expect(resolveModel('tiny/stories-GGUF', { env, cwd: root })).rejects.toThrow(/several .gguf files .* ORG\/NAME:QUANT/);
    await expect(resolveModel('tiny/stories-GGUF:Q2_K', { env, cwd: root })).rejects.toThrow(/no .gguf files match 'Q2_K'/);
    // Without refs/main, a single snapshot is used.
    const noRef = await resolveModel('tiny/no-ref', { env, cwd: root });
    expect(noRef.path).toBe(path.join(hub, 'models--tiny--no-ref', 'snapshots', 'ffff0000', 'one.gguf'));
  });

  it('respects HF_HOME, XDG_CACHE_HOME and the home directory default, in huggingface_hub\'s order', async () => {
    const hfHome = path.join(root, 'hf-home');
    const a = hfRepo(path.join(hfHome, 'hub'), 'org/a', { 'config.json': '{}' });
    const xdg = path.join(root, 'xdg');
    const b = hfRepo(path.join(xdg, 'huggingface', 'hub'), 'org/b', { 'config.json': '{}' });
    const c = hfRepo(path.join(home, '.cache', 'huggingface', 'hub'), 'org/c', { 'config.json': '{}' });
    const opts = (env: Record<string, string>) => ({ env: { OLLAMA_MODELS: ollama, ...env }, homeDir: home, cwd: root });
    expect((await resolveModel('org/a', opts({ HF_HOME: hfHome }))).path).toBe(a);
    expect((await resolveModel('org/b', opts({ XDG_CACHE_HOME: xdg }))).path).toBe(b);
    expect((await resolveModel('org/c', opts({}))).path).toBe(c);
    // HF_HUB_CACHE wins over HF_HOME.
    await expect(resolveModel('org/a', opts({ HF_HUB_CACHE: hub, HF_HOME: hfHome }))).rejects.toThrow(`${hub}/models--org--a/refs/main`);
  });

  it('finds Ollama names in the Ollama store (OLLAMA_MODELS), with and without a tag', async () => {
    const env = { OLLAMA_MODELS: ollama, HF_HUB_CACHE: hub };
    expect(await resolveModel('stories', { env, cwd: root })).toEqual({ format: 'gguf', path: ollamaBlob });
    expect(await resolveModel('stories:latest', { env, cwd: root })).toEqual({ format: 'gguf', path: ollamaBlob });
    const tagged = await resolveModel('stories:260k', { env, cwd: root });
    expect(tagged.path).toMatch(/blobs\/sha256-[0-9a-f]{64}$/);
    expect(tagged.path).not.toBe(ollamaBlob);
    expect((await resolveModel('someone/stories:q8', { env, cwd: root })).format).toBe('gguf');
    expect((await resolveModel('hf.co/tiny/stories-GGUF:Q8_0', { env, cwd: root })).format).toBe('gguf');
    // The default store is ~/.ollama/models.
    const homeStore = path.join(home, '.ollama', 'models');
    const blob = ollamaModel(homeStore, 'registry.ollama.ai/library/llama3.2/1b', gguf('llama3.2'));
    expect(await resolveModel('llama3.2:1b', { env: none, homeDir: home, cwd: root })).toEqual({ format: 'gguf', path: blob });
  });

  it.skipIf(!HAVE_SHARED)('the resolved Ollama blob and Hugging Face file are real GGUF models', async () => {
    const env = { OLLAMA_MODELS: ollama, HF_HUB_CACHE: hub };
    for (const name of ['stories', 'tiny/stories-GGUF:Q8_0']) {
      const f = readGgufFile((await resolveModel(name, { env, cwd: root })).path);
      expect(f.tensors).toHaveLength(47);
    }
  });

  it('rejects Ollama manifests that do not lead to a model', async () => {
    const env = { OLLAMA_MODELS: ollama };
    await expect(resolveModel('adapter', { env, cwd: root })).rejects.toThrow(/has no application\/vnd.ollama.image.model layer/);
    write(path.join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'broken', 'latest'), '{not json');
    await expect(resolveModel('broken', { env, cwd: root })).rejects.toThrow(/is not valid JSON/);
    const evil = { layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: 'sha256:../../../../etc/passwd' }] };
    write(path.join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'evil', 'latest'), JSON.stringify(evil));
    await expect(resolveModel('evil', { env, cwd: root })).rejects.toThrow(/is not sha256:<64 hex digits>/);
    const gone = { layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${'e'.repeat(64)}` }] };
    write(path.join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'gone', 'latest'), JSON.stringify(gone));
    await expect(resolveModel('gone', { env, cwd: root })).rejects.toThrow(/which is missing: the Ollama store is incomplete/);
  });

  it('says every place it looked when nothing matches', async () => {
    const env = { HF_HUB_CACHE: hub, OLLAMA_MODELS: ollama };
    const err = await resolveModel('acme/widget:7b', { env, cwd: root }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    const message = (err as Error).message;
    expect(message).toContain(`a file or directory ${root}/acme/widget:7b (not found)`);
    expect(message).toContain(`the Hugging Face cache: ${hub}/models--acme--widget/refs/main (not found)`);
    expect(message).toContain(`the Ollama store: ${ollama}/manifests/registry.ollama.ai/acme/widget/7b (not found)`);
    // Without OLLAMA_MODELS: the default store and the Linux service's store.
    const plain = await resolveModel('nothing-here', { env: none, homeDir: home, cwd: root }).catch((e: Error) => e.message);
    expect(plain).toContain(`${home}/.ollama/models/manifests/registry.ollama.ai/library/nothing-here/latest (not found)`);
    expect(plain).toContain('/usr/share/ollama/.ollama/models/manifests/registry.ollama.ai/library/nothing-here/latest (not found)');
  });
});
