// Sampling parameters: what users pass (all optional, vLLM / OpenAI names in camelCase), and the
// checked, complete form the engine runs with. Validation lives here, in TypeScript; native code
// receives only clean values (and checks them again).
import { InvalidRequestError } from '../errors.js';

export interface SamplingParamsInput {
  /** Tokens to generate at most (default: what is left of the context). */
  maxTokens?: number | null;
  /** 0 is greedy (default 1). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 or -1 disables (default). */
  topK?: number;
  /** Nucleus sampling mass (default 1: disabled). */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one (default 0). */
  minP?: number;
  /** > 1 discourages tokens of the prompt and the output so far (default 1). */
  repetitionPenalty?: number;
  /** Subtracted from the logits of tokens already generated (default 0). */
  presencePenalty?: number;
  /** Subtracted once per occurrence in the output so far (default 0). */
  frequencyPenalty?: number;
  /** Same seed, same tokens (default: random). */
  seed?: number | bigint | null;
  /** Strings that end the output (not included in it). */
  stop?: string | string[] | null;
  /** Token ids that end the output (in addition to EOS). */
  stopTokenIds?: number[] | null;
  /** Keep generating after EOS (benchmarks). */
  ignoreEos?: boolean;
  /** null: no logprobs; 0: the chosen token's; n: also the top n (at most 20). */
  logprobs?: number | null;
  /** Independent outputs for the prompt, sharing its KV blocks (default 1). */
  n?: number;
  /** Leave special tokens out of the text (default true). */
  skipSpecialTokens?: boolean;
}

export interface SamplingParams {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed: bigint | null;
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  logprobs: number | null;
  n: number;
  skipSpecialTokens: boolean;
}

export const MAX_LOGPROBS = 20;
export const MAX_N = 128;

export interface SamplingLimits {
  /** Longest prompt + output the engine allows. */
  maxModelLen: number;
  promptLength: number;
  vocabSize: number;
}

function num(name: string, value: unknown, fallback: number, ok: (v: number) => boolean, rule: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value))
    throw new InvalidRequestError(`${name} must be ${rule}, got ${JSON.stringify(value)}`, name);
  return value;
}

function int(name: string, value: unknown, fallback: number, ok: (v: number) => boolean, rule: string): number {
  const v = num(name, value, fallback, ok, rule);
  if (!Number.isInteger(v)) throw new InvalidRequestError(`${name} must be an integer, got ${JSON.stringify(value)}`, name);
  return v;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new InvalidRequestError(`${name} must be a boolean`, name);
  return value;
}

/** Checks and completes user sampling parameters; throws InvalidRequestError naming the parameter. */
export function normalizeSamplingParams(input: SamplingParamsInput = {}, limits: SamplingLimits): SamplingParams {
  if (typeof input !== 'object' || input === null) throw new InvalidRequestError('sampling parameters must be an object');
  const room = limits.maxModelLen - limits.promptLength;
  if (limits.promptLength === 0) throw new InvalidRequestError('the prompt is empty', 'prompt');
  if (room <= 0)
    throw new InvalidRequestError(
      `the prompt has ${limits.promptLength} tokens, but the model's context is ${limits.maxModelLen}: shorten the prompt`,
      'prompt',
    );
  const maxTokens = int('maxTokens', input.maxTokens, room, (v) => v >= 1, 'an integer >= 1');
  if (maxTokens > room)
    throw new InvalidRequestError(
      `maxTokens is ${maxTokens}, but the prompt (${limits.promptLength} tokens) leaves room for ${room} in a context of ${limits.maxModelLen}`,
      'maxTokens',
    );
  let seed: bigint | null = null;
  if (input.seed !== undefined && input.seed !== null) {
    if (typeof input.seed === 'bigint') seed = input.seed;
    else if (typeof input.seed === 'number' && Number.isSafeInteger(input.seed)) seed = BigInt(input.seed);
    else throw new InvalidRequestError('seed must be an integer', 'seed');
    seed = BigInt.asUintN(64, seed);
  }
  let stop: string[] = [];
  if (input.stop !== undefined && input.stop !== null) {
    stop = typeof input.stop === 'string' ? [input.stop] : input.stop;
    if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s.length === 0))
      throw new InvalidRequestError('stop must be a non-empty string or an array of them', 'stop');
  }
  const stopTokenIds = input.stopTokenIds ?? [];
  if (!Array.isArray(stopTokenIds) || stopTokenIds.some((t) => !Number.isInteger(t) || t < 0 || t >= limits.vocabSize))
    throw new InvalidRequestError(`stopTokenIds must be token ids below ${limits.vocabSize}`, 'stopTokenIds');
  const params: SamplingParams = {
    maxTokens,
    temperature: num('temperature', input.temperature, 1, (v) => v >= 0, 'a number >= 0'),
    topK: int('topK', input.topK, 0, (v) => v >= -1, 'an integer >= -1 (0 or -1: disabled)'),
    topP: num('topP', input.topP, 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    minP: num('minP', input.minP, 0, (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    repetitionPenalty: num('repetitionPenalty', input.repetitionPenalty, 1, (v) => v > 0, 'a number > 0'),
    presencePenalty: num('presencePenalty', input.presencePenalty, 0, (v) => v >= -2 && v <= 2, 'in [-2, 2]'),
    frequencyPenalty: num('frequencyPenalty', input.frequencyPenalty, 0, (v) => v >= -2 && v <= 2, 'in [-2, 2]'),
    seed,
    stop,
    stopTokenIds: [...stopTokenIds],
    ignoreEos: bool('ignoreEos', input.ignoreEos, false),
    logprobs:
      input.logprobs === undefined || input.logprobs === null
        ? null
        : int('logprobs', input.logprobs, 0, (v) => v >= 0 && v <= MAX_LOGPROBS, `an integer in [0, ${MAX_LOGPROBS}]`),
    n: int('n', input.n, 1, (v) => v >= 1 && v <= MAX_N, `an integer in [1, ${MAX_N}]`),
    skipSpecialTokens: bool('skipSpecialTokens', input.skipSpecialTokens, true),
  };
  if (params.topK === -1) params.topK = 0;
  return params;
}
