// Which addon runs: the `backend` option ('cpu' or 'cuda'), else PAGEDINFER_BACKEND, else CUDA when
// the CUDA addon loads and sees a GPU, else the CPU. The choice always comes with a one-line reason, so a user can
// see what they run on and why (`pagedinfer info`, getRuntimeInfo()).
import { NativeError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { type AddonLoadResult, type AddonProblem, addonLoadError, loadAddon, notLoadedSummary } from './load.js';
import type { AddonSource } from './locate.js';
import type { AddonBackendInfo, BackendName, BackendRequest, NativeAddon } from './types.js';

export type RequestedBy = 'default' | 'the backend option' | 'PAGEDINFER_BACKEND';

/** What became of the CUDA addon during the choice. */
export type CudaAddonState =
  | { state: 'not tried' }
  | { state: 'not found'; lookedAt: string[] }
  | { state: 'failed to load'; error: string }
  | { state: 'no usable GPU'; reason: string; info: AddonBackendInfo }
  | { state: 'selected' };

export interface BackendSelection {
  name: BackendName;
  /** One line: why this addon runs (GPU found / no GPU and why / forced by the option or the variable). */
  reason: string;
  requested: BackendRequest;
  requestedBy: RequestedBy;
  addonPath: string;
  addonSource: AddonSource;
  /** The addon's own report on its device (GPU name, driver, SIMD level, ...). */
  info: AddonBackendInfo;
  cuda: CudaAddonState;
  /** Files of the chosen addon tried first that did not load (a broken local build, say). */
  skipped: AddonProblem[];
}

export interface Selected {
  addon: NativeAddon;
  selection: BackendSelection;
}

/** How addons are loaded; tests pass their own. */
export type AddonLoader = (name: BackendName) => AddonLoadResult;

function parseRequest(requested: BackendRequest | undefined, env: NodeJS.ProcessEnv): { choice: BackendRequest; by: RequestedBy } {
  if (requested !== undefined && !['auto', 'cpu', 'cuda'].includes(requested))
    throw new NativeError(`unknown backend "${String(requested)}" in the backend option (use auto, cpu or cuda)`);
  // 'auto' is what callers pass when they do not choose (the CLI's default): the variable still
  // applies then, so a deployment can force a backend without touching code.
  if (requested === 'cpu' || requested === 'cuda') return { choice: requested, by: 'the backend option' };
  const fromEnv = env.PAGEDINFER_BACKEND?.trim().toLowerCase();
  if (!fromEnv) return { choice: 'auto', by: 'default' };
  if (!['auto', 'cpu', 'cuda'].includes(fromEnv))
    throw new NativeError(`PAGEDINFER_BACKEND="${env.PAGEDINFER_BACKEND}" is not a backend (use auto, cpu or cuda)`);
  return { choice: fromEnv as BackendRequest, by: fromEnv === 'auto' ? 'default' : 'PAGEDINFER_BACKEND' };
}

function forcedText(choice: BackendName, by: RequestedBy): string {
  return by === 'PAGEDINFER_BACKEND' ? `forced by PAGEDINFER_BACKEND=${choice}` : `forced by the backend option ('${choice}')`;
}

function gpuName(info: AddonBackendInfo): string {
  return typeof info.device === 'string' && info.device ? info.device : 'a CUDA device';
}

/** The choice itself, without caching; `load` and `env` are parameters so tests can drive every path. */
export function chooseBackend(
  requested: BackendRequest | undefined,
  load: AddonLoader,
  env: NodeJS.ProcessEnv = process.env,
  root = packageRoot(),
): Selected {
  const { choice, by } = parseRequest(requested, env);
  let cuda: CudaAddonState = { state: 'not tried' };
  if (choice !== 'cpu') {
    const r = load('cuda');
    if (!r.ok) {
      if (choice === 'cuda') throw addonLoadError(r, root, ` (${forcedText('cuda', by)})`);
      cuda = r.problems.length ? { state: 'failed to load', error: notLoadedSummary(r) } : { state: 'not found', lookedAt: r.lookedAt };
    } else {
      const info = r.addon.backendInfo();
      if (info.available) {
        const reason = choice === 'cuda' ? forcedText('cuda', by) : `GPU found: ${gpuName(info)}`;
        const selection: BackendSelection = {
          name: 'cuda', reason, requested: choice, requestedBy: by,
          addonPath: r.file, addonSource: r.source, info, cuda: { state: 'selected' }, skipped: r.skipped,
        };
        return { addon: r.addon, selection };
      }
      cuda = { state: 'no usable GPU', reason: String(info.reason ?? 'the CUDA addon reports no device'), info };
      if (choice === 'cuda')
        throw new NativeError(`pagedinfer: the CUDA backend was ${forcedText('cuda', by)}, but there is no usable GPU: ${cuda.reason}. Use 'cpu' or 'auto' to run on the CPU.`);
    }
  }
  const cpu = load('cpu');
  if (!cpu.ok) throw addonLoadError(cpu, root);
  let reason: string;
  if (choice === 'cpu') reason = forcedText('cpu', by);
  else if (cuda.state === 'no usable GPU') reason = `no usable GPU: ${cuda.reason}`;
  else if (cuda.state === 'failed to load') reason = `the CUDA addon did not load: ${cuda.error}`;
  else reason = 'no GPU support in this installation: it has no CUDA addon (pagedinfer_cuda.node)';
  const selection: BackendSelection = {
    name: 'cpu', reason, requested: choice, requestedBy: by,
    addonPath: cpu.file, addonSource: cpu.source, info: cpu.addon.backendInfo(), cuda, skipped: cpu.skipped,
  };
  return { addon: cpu.addon, selection };
}

const selections = new Map<string, Selected>();

/** The addon this process runs on for a `backend` option (cached: each addon loads once). */
export function selectBackend(requested?: BackendRequest): Selected {
  const key = `${requested ?? ''}|${process.env.PAGEDINFER_BACKEND ?? ''}|${process.env.PAGEDINFER_ADDON_DIR ?? ''}`;
  const cached = selections.get(key);
  if (cached) return cached;
  const root = packageRoot();
  const result = chooseBackend(requested, (name) => loadAddon(name, root), process.env, root);
  selections.set(key, result);
  return result;
}
