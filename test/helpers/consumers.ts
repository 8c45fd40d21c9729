// Programs a user's project could run against an installed pagedinfer, as the README shows them:
// the built-in model through the public API, by `import` and by `require`. Each prints one JSON line.
const GENERATE = `
  const llm = await loadModel();
  let text = '';
  const ids = [];
  for await (const chunk of llm.generate('Once upon a time', { maxTokens: 16, temperature: 0 })) {
    text += chunk.text;
    ids.push(...chunk.tokenIds);
  }
  const { name, addonPath } = llm.info.backend;
  await llm.close();
  console.log(JSON.stringify({ text, ids, backend: name, addonPath, info: getRuntimeInfo() }));
`;

export const ESM_CONSUMER = `import { getRuntimeInfo, loadModel } from 'pagedinfer';
${GENERATE}`;

export const CJS_CONSUMER = `const { getRuntimeInfo, loadModel } = require('pagedinfer');
(async () => {${GENERATE}})();
`;

/** TypeScript users of both formats: the exports map's types must resolve and check (skipLibCheck off). */
export const TS_ESM_CONSUMER = `import { getRuntimeInfo, formatRuntimeInfo, loadModel, NativeError, type LLM, type RuntimeInfo } from 'pagedinfer';
const info: RuntimeInfo = getRuntimeInfo({ backend: 'auto' });
const backend: 'cpu' | 'cuda' = info.backend;
const simd: string | undefined = info.cpu?.simd;
const err: Error = new NativeError('x');
const llm: LLM = await loadModel(undefined, { backend: 'cpu' });
for await (const chunk of llm.generate('Once upon a time', { maxTokens: 4 })) console.log(chunk.text);
console.log(formatRuntimeInfo(info), backend, simd, err);
`;

export const TS_CJS_CONSUMER = `import pagedinfer = require('pagedinfer');
const info: pagedinfer.RuntimeInfo = pagedinfer.getRuntimeInfo({ backend: 'cpu' });
const reason: string = info.reason;
const err: Error = new pagedinfer.ModelLoadError('x');
async function main(): Promise<string> {
  const llm: pagedinfer.LLM = await pagedinfer.loadModel();
  const r: pagedinfer.GenerationResult = await llm.complete('Once upon a time', { maxTokens: 4 });
  await llm.close();
  return r.text;
}
main().then((t) => console.log(reason, err, t));
`;
