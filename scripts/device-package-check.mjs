// Run on the GPU machine from the kit scripts/device-package-kit.sh makes (.gpu/app/check.mjs): the
// installed package says which addon it loads and why, generates with the built-in model by import
// and by require, and runs on the CPU when PAGEDINFER_BACKEND=cpu. Prints PASS/FAIL lines; exits 1
// on any failure.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const app = path.dirname(fileURLToPath(import.meta.url));
let failed = 0;
function check(name, ok, detail = '') {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  if (!ok) failed++;
}
function node(args, env = {}) {
  const r = spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) console.log(r.stdout, r.stderr);
  return r;
}

const generate = (format) =>
  format === 'esm'
    ? ['--input-type=module', '-e', `import { loadModel } from 'pagedinfer'; const llm = await loadModel(); const r = await llm.complete('Once upon a time', { maxTokens: 16, temperature: 0 }); console.log(JSON.stringify({ text: r.text, backend: llm.info.backend })); await llm.close();`]
    : ['-e', `const { loadModel } = require('pagedinfer'); loadModel().then(async (llm) => { const r = await llm.complete('Once upon a time', { maxTokens: 16, temperature: 0 }); console.log(JSON.stringify({ text: r.text, backend: llm.info.backend })); await llm.close(); });`];

const info = node([path.join(app, 'node_modules', 'pagedinfer', 'dist', 'cli', 'main.js'), 'info']);
console.log(info.stdout);
check('pagedinfer info', info.status === 0);

const runs = {};
for (const [label, format, env] of [['import', 'esm', {}], ['require', 'cjs', {}], ['PAGEDINFER_BACKEND=cpu', 'esm', { PAGEDINFER_BACKEND: 'cpu' }]]) {
  const r = node(generate(format), env);
  const out = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()) : null;
  runs[label] = out;
  check(`generate by ${label}`, Boolean(out && /^, there was a little girl named Lily/.test(out.text)), out ? `${out.backend.name} (${out.backend.reason}): ${JSON.stringify(out.text)}` : 'failed');
}
check('import and require give the same text', runs.import?.text === runs.require?.text);
check('PAGEDINFER_BACKEND=cpu runs on the CPU', runs['PAGEDINFER_BACKEND=cpu']?.backend.name === 'cpu');
console.log(`${failed === 0 ? 'all passed' : `${failed} failed`}`);
process.exit(failed ? 1 : 0);
