// Scripts a user's project could run against an installed pagedinfer, in both module formats: a
// dummy-weight model (the tiny-llama preset) through the package's native runner, greedy for a few
// tokens. They print one JSON line. (Until the public loadModel/generate API lands, they reach the
// runner by the file path of dist/native.js, which the exports map does not cover.)
const BODY = `
async function greedy(NativeModelRunner, loadDummySpec) {
  const runner = await NativeModelRunner.create(loadDummySpec('tiny-llama'), { loadFormat: 'dummy', dummyDType: 'F32', seed: 7 });
  const prompt = [1, 50, 900, 77, 4000, 12];
  const batch = (tokens, start) => ({
    numTokens: tokens.length, numSeqs: 1, tokenIds: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i), queryStart: Int32Array.from([0, tokens.length]),
    seqLens: Int32Array.from([start + tokens.length]), blockTable: Int32Array.from([0]), maxBlocksPerSeq: 1,
    slotMapping: Int32Array.from(tokens, (_, i) => start + i), logitRows: Int32Array.from([tokens.length - 1]),
    sampling: null, returnLogits: true, blockCopies: new Int32Array(0),
  });
  const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);
  runner.initKvCache(1, 16);
  let r = await runner.step(batch(prompt, 0));
  let finite = r.logits.every(Number.isFinite);
  const ids = [argmax(r.logits)];
  while (ids.length < 6) {
    r = await runner.step(batch([ids[ids.length - 1]], prompt.length + ids.length - 1));
    finite = finite && r.logits.every(Number.isFinite);
    ids.push(argmax(r.logits));
  }
  const { name, addonPath } = runner.backend;
  runner.close();
  return { ids, finite, vocab: r.logits.length, backend: name, addonPath };
}
`;

export const ESM_CONSUMER = `import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getRuntimeInfo } from 'pagedinfer';
const root = path.dirname(createRequire(import.meta.url).resolve('pagedinfer/package.json'));
const { NativeModelRunner } = await import(pathToFileURL(path.join(root, 'dist', 'native.js')).href);
const { loadDummySpec } = await import(pathToFileURL(path.join(root, 'dist', 'model', 'dummy.js')).href);
${BODY}
const info = getRuntimeInfo();
console.log(JSON.stringify({ format: 'esm', info, run: await greedy(NativeModelRunner, loadDummySpec) }));
`;

export const CJS_CONSUMER = `const path = require('node:path');
const { getRuntimeInfo } = require('pagedinfer');
const root = path.dirname(require.resolve('pagedinfer/package.json'));
const { NativeModelRunner } = require(path.join(root, 'dist', 'cjs', 'native.js'));
const { loadDummySpec } = require(path.join(root, 'dist', 'cjs', 'model', 'dummy.js'));
${BODY}
const info = getRuntimeInfo();
greedy(NativeModelRunner, loadDummySpec).then((run) => console.log(JSON.stringify({ format: 'cjs', info, run })));
`;

/** TypeScript users of both formats: the exports map's types must resolve and check (skipLibCheck off). */
export const TS_ESM_CONSUMER = `import { getRuntimeInfo, formatRuntimeInfo, NativeError, type RuntimeInfo } from 'pagedinfer';
const info: RuntimeInfo = getRuntimeInfo({ backend: 'auto' });
const backend: 'cpu' | 'cuda' = info.backend;
const simd: string | undefined = info.cpu?.simd;
const err: Error = new NativeError('x');
console.log(formatRuntimeInfo(info), backend, simd, err);
`;

export const TS_CJS_CONSUMER = `import pagedinfer = require('pagedinfer');
const info: pagedinfer.RuntimeInfo = pagedinfer.getRuntimeInfo({ backend: 'cpu' });
const reason: string = info.reason;
const err: Error = new pagedinfer.ModelLoadError('x');
console.log(reason, err);
`;
