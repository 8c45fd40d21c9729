// config.json of a Hugging Face model directory → ModelConfig, for the llama, qwen2 and qwen3
// architectures (and mistral, a llama). Accepts both the older `rope_theta` / `rope_scaling`
// keys and transformers 5's `rope_parameters`.
import { ModelLoadError, UnsupportedArchitectureError } from '../errors.js';
import type { Architecture, ModelConfig, RopeScaling } from './types.js';

const ARCHITECTURES: Record<string, Architecture> = {
  llama: 'llama',
  mistral: 'llama',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
};

type Json = Record<string, unknown>;

function positiveInt(cfg: Json, key: string, source: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new ModelLoadError(`${source}: "${key}" must be a positive integer, found ${JSON.stringify(cfg[key])}`);
  return v;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

function ropeScaling(raw: Json | undefined, source: string): RopeScaling | null {
  if (!raw) return null;
  const type = String(raw.rope_type ?? raw.type ?? 'default');
  if (type === 'default') return null;
  const num = (key: string): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new ModelLoadError(`${source}: rope scaling "${key}" must be a positive number, found ${JSON.stringify(v)}`);
    return v;
  };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    };
  }
  if (type === 'linear') return { type: 'linear', factor: num('factor') };
  throw new UnsupportedArchitectureError(
    `${source}: rope scaling type "${type}" is not supported (supported: default, linear, llama3)`,
  );
}

/** Parses a config.json object; `source` names the file in errors. */
export function parseHfConfig(cfg: unknown, source: string): ModelConfig {
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    throw new ModelLoadError(`${source}: expected a JSON object`);
  const c = cfg as Json;
  const modelType = typeof c.model_type === 'string' ? c.model_type : undefined;
  const architecture = modelType ? ARCHITECTURES[modelType] : undefined;
  if (!architecture)
    throw new UnsupportedArchitectureError(
      `${source}: model_type "${modelType ?? '(missing)'}" is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')})`,
    );
  if (c.mlp_bias === true || (architecture === 'llama' && c.attention_bias === true))
    throw new UnsupportedArchitectureError(`${source}: llama models with attention_bias or mlp_bias are not supported`);
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu')
    throw new UnsupportedArchitectureError(`${source}: hidden_act "${String(c.hidden_act)}" is not supported (only silu)`);

  const hiddenSize = positiveInt(c, 'hidden_size', source);
  const numHeads = positiveInt(c, 'num_attention_heads', source);
  const numKvHeads = positiveInt(c, 'num_key_value_heads', source, numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new ModelLoadError(`${source}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = c.head_dim == null ? hiddenSize / numHeads : positiveInt(c, 'head_dim', source);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    throw new ModelLoadError(`${source}: head size ${headDim} (hidden_size / num_attention_heads) must be an even integer`);

  const params = (c.rope_parameters as Json | undefined) ?? undefined;
  const theta = params?.rope_theta ?? c.rope_theta ?? 10000;
  if (typeof theta !== 'number' || !(theta > 0)) throw new ModelLoadError(`${source}: rope_theta must be a positive number`);
  const partial = c.partial_rotary_factor ?? params?.partial_rotary_factor;
  if (partial !== undefined && partial !== 1)
    throw new UnsupportedArchitectureError(`${source}: partial rotary embeddings are not supported`);
  const eps = c.rms_norm_eps ?? 1e-6;
  if (typeof eps !== 'number' || !(eps > 0)) throw new ModelLoadError(`${source}: rms_norm_eps must be a positive number`);

  return {
    architecture,
    hiddenSize,
    intermediateSize: positiveInt(c, 'intermediate_size', source),
    numLayers: positiveInt(c, 'num_hidden_layers', source),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: positiveInt(c, 'vocab_size', source),
    maxContext: positiveInt(c, 'max_position_embeddings', source, 2048),
    rmsNormEps: eps,
    rope: {
      theta,
      style: 'neox',
      rotaryDim: headDim,
      scaling: ropeScaling((params ?? (c.rope_scaling as Json | undefined)) || undefined, source),
    },
    tieWordEmbeddings: c.tie_word_embeddings === true,
    attentionBias: architecture === 'qwen2',
    qkNorm: architecture === 'qwen3',
    bosTokenId: typeof c.bos_token_id === 'number' ? c.bos_token_id : null,
    eosTokenIds: ids(c.eos_token_id),
  };
}
