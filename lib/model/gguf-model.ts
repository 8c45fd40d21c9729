// GGUF file → ModelSpec: the model config from `<arch>.*` metadata (with llama.cpp's defaults
// where a key is absent), and where each tensor's bytes are. Tensor names in GGUF already are
// the canonical names native code expects; only the shape order and the dtype need translating.
import path from 'node:path';
import { ModelLoadError, UnsupportedArchitectureError } from '../errors.js';
import { checkTensors } from './expected-tensors.js';
import { readGgufFile, type GgufFile, type GgufTensorInfo } from './gguf.js';
import { getCount, getNumber, getString } from './gguf-metadata.js';
import { fileSource, type ByteSource } from './gguf-source.js';
import { endOfGenerationIds, specialTokenId } from './gguf-tokens.js';
import { ggmlTypeName } from './gguf-types.js';
import { computeRopeInvFreq } from './rope.js';
import { DTYPE_CODES, type Architecture, type ModelConfig, type ModelSpec, type RopeConfig, type RopeScaling, type TensorInfo, type WeightDType } from './types.js';

// general.architecture → the forward that runs it. Mistral's files are llama with another name.
const ARCHITECTURES: Record<string, Architecture> = { llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3' };

const DTYPE_BY_CODE = new Map<number, WeightDType>(Object.entries(DTYPE_CODES).map(([name, code]) => [code, name as WeightDType]));

const DEFAULT_ROPE_THETA = 10000; // llama.cpp's default when rope.freq_base is absent

/** Reads a GGUF file's header (and its few bytes of rope_freqs, if any) and describes the model. */
export function loadGgufModelSpec(file: string): ModelSpec {
  return ggufModelSpec(readGgufFile(path.resolve(file)));
}

/** `bytes` reads the file's tensor data (rope_freqs); by default the file at gguf.path. */
export function ggufModelSpec(gguf: GgufFile, bytes?: ByteSource): ModelSpec {
  const config = ggufModelConfig(gguf);
  const tensors = gguf.tensors.map((t) => tensorInfo(gguf, t));
  checkTensors(config, tensors, gguf.path);
  let ropeInvFreq = computeRopeInvFreq(config.rope);
  const ropeFreqs = gguf.tensors.find((t) => t.name === 'rope_freqs.weight');
  if (ropeFreqs) {
    const source = bytes ?? fileSource(gguf.path);
    try {
      ropeInvFreq = divideByRopeFreqs(gguf, ropeFreqs, ropeInvFreq, source);
    } finally {
      if (!bytes) source.close();
    }
  }
  return { config, tensors, source: { format: 'gguf', path: gguf.path }, ropeInvFreq };
}

function ggufModelConfig(gguf: GgufFile): ModelConfig {
  const where = gguf.path;
  const archName = getString(gguf, 'general.architecture');
  if (archName === undefined) throw new ModelLoadError(`${where}: no general.architecture in the metadata: is this a model file (not a vocabulary-only or adapter file)?`);
  const architecture = ARCHITECTURES[archName];
  if (!architecture) {
    throw new UnsupportedArchitectureError(
      `${where}: architecture '${archName}' is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')})`,
    );
  }
  const key = (k: string) => `${archName}.${k}`;
  // Mixtral-style files say llama too; their experts' tensors are not the dense forward's.
  const experts = getCount(gguf, key('expert_count')) ?? 0;
  if (experts > 0) throw new UnsupportedArchitectureError(`${where}: ${archName} with ${experts} experts (mixture of experts) is not supported yet; only dense models are`);
  const required = (k: string): number => {
    const v = getCount(gguf, key(k));
    if (v === undefined) throw new ModelLoadError(`${where}: metadata ${key(k)} is missing; llama.cpp requires it too: the file is incomplete or from a broken converter`);
    return v;
  };

  const hiddenSize = required('embedding_length');
  const numLayers = required('block_count');
  const numHeads = required('attention.head_count');
  const intermediateSize = required('feed_forward_length');
  const maxContext = required('context_length');
  const numKvHeads = getCount(gguf, key('attention.head_count_kv')) ?? numHeads;
  const rmsNormEps = getNumber(gguf, key('attention.layer_norm_rms_epsilon'));
  if (rmsNormEps === undefined) throw new ModelLoadError(`${where}: metadata ${key('attention.layer_norm_rms_epsilon')} is missing: the file is incomplete`);
  for (const [name, v] of [['embedding_length', hiddenSize], ['block_count', numLayers], ['attention.head_count', numHeads], ['attention.head_count_kv', numKvHeads], ['feed_forward_length', intermediateSize]] as const) {
    if (v <= 0) throw new ModelLoadError(`${where}: metadata ${key(name)} is ${v}; it must be positive`);
  }
  // Each layer has at least nine tensors: a block_count beyond that is corrupt, and must be caught
  // before anything loops over the layers.
  if (numLayers * 9 > gguf.tensors.length) {
    throw new ModelLoadError(`${where}: ${key('block_count')} is ${numLayers} but the file has only ${gguf.tensors.length} tensors: the metadata is corrupt`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw new ModelLoadError(`${where}: ${numHeads} attention heads is not a multiple of ${numKvHeads} key/value heads: the metadata is corrupt`);
  }
  if (hiddenSize % numHeads !== 0 && !gguf.metadata.has(key('attention.key_length'))) {
    throw new ModelLoadError(`${where}: hidden size ${hiddenSize} is not a multiple of ${numHeads} heads and ${key('attention.key_length')} is missing`);
  }
  const headDim = getCount(gguf, key('attention.key_length')) ?? hiddenSize / numHeads;
  const valueDim = getCount(gguf, key('attention.value_length')) ?? headDim;
  if (valueDim !== headDim || headDim <= 0) {
    throw new ModelLoadError(`${where}: key length ${headDim} and value length ${valueDim} differ; pagedinfer needs equal key and value head sizes`);
  }

  const embd = gguf.tensors.find((t) => t.name === 'token_embd.weight');
  if (!embd || embd.dims.length !== 2) throw new ModelLoadError(`${where}: missing 2-D tensor token_embd.weight (the token embeddings)`);
  if (embd.dims[0] !== hiddenSize) {
    throw new ModelLoadError(`${where}: token_embd.weight rows have ${embd.dims[0]} values but ${key('embedding_length')} is ${hiddenSize}: the metadata does not match the weights`);
  }
  const vocabSize = embd.dims[1];
  const tokens = gguf.metadata.get('tokenizer.ggml.tokens')?.value;
  if (typeof tokens === 'object' && tokens.values.length > vocabSize) {
    throw new ModelLoadError(`${where}: the vocabulary has ${tokens.values.length} tokens but token_embd.weight only ${vocabSize} rows`);
  }

  return {
    architecture,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    maxContext,
    rmsNormEps,
    rope: ropeConfig(gguf, archName, architecture, headDim),
    tieWordEmbeddings: !gguf.tensors.some((t) => t.name === 'output.weight'),
    attentionBias: gguf.tensors.some((t) => t.name === 'blk.0.attn_q.bias'),
    qkNorm: architecture === 'qwen3',
    bosTokenId: specialTokenId(gguf, 'tokenizer.ggml.bos_token_id', vocabSize),
    eosTokenIds: endOfGenerationIds(gguf, vocabSize),
  };
}

function ropeConfig(gguf: GgufFile, archName: string, architecture: Architecture, headDim: number): RopeConfig {
  const where = gguf.path;
  const theta = getNumber(gguf, `${archName}.rope.freq_base`) ?? DEFAULT_ROPE_THETA;
  const rotaryDim = getCount(gguf, `${archName}.rope.dimension_count`) ?? headDim;
  if (theta <= 0) throw new ModelLoadError(`${where}: ${archName}.rope.freq_base is ${theta}; it must be positive`);
  if (rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 !== 0) {
    throw new ModelLoadError(`${where}: ${archName}.rope.dimension_count is ${rotaryDim}; it must be even and at most the head size ${headDim}`);
  }
  return {
    theta,
    // llama.cpp's converter permutes llama Q/K rows to rotate interleaved pairs; qwen files keep
    // Hugging Face's rotate-half layout.
    style: architecture === 'llama' ? 'normal' : 'neox',
    rotaryDim,
    scaling: ropeScaling(gguf, archName),
  };
}

function ropeScaling(gguf: GgufFile, archName: string): RopeScaling | null {
  const type = getString(gguf, `${archName}.rope.scaling.type`);
  const factor = getNumber(gguf, `${archName}.rope.scaling.factor`) ?? getNumber(gguf, `${archName}.rope.scale_linear`);
  if (type === undefined || type === 'none' || type === 'linear') {
    // Like llama.cpp: a factor of 0 or 1 means no scaling.
    if (factor === undefined || factor === 0 || factor === 1 || type === 'none') return null;
    if (factor < 0) throw new ModelLoadError(`${gguf.path}: rope scaling factor ${factor} must be positive`);
    return { type: 'linear', factor };
  }
  throw new ModelLoadError(`${gguf.path}: rope scaling '${type}' is not supported yet (supported: none, linear, and llama3 through a rope_freqs tensor)`);
}

/** llama3-style scaling in GGUF: a rope_freqs tensor of per-pair divisors of the base frequencies. */
function divideByRopeFreqs(gguf: GgufFile, t: GgufTensorInfo, invFreq: Float32Array, source: ByteSource): Float32Array {
  const where = `${gguf.path}: tensor rope_freqs.weight`;
  if (t.type !== DTYPE_CODES.F32) throw new ModelLoadError(`${where} has type ${ggmlTypeName(t.type)}; llama.cpp writes it as F32`);
  if (t.elementCount !== invFreq.length) {
    throw new ModelLoadError(`${where} has ${t.elementCount} values; the rotary dimension needs ${invFreq.length} (one per rotated pair)`);
  }
  if (t.offset + t.byteLength > source.size) throw new ModelLoadError(`${where} lies beyond the end of the file`);
  const bytes = source.read(t.offset, t.byteLength);
  const out = new Float32Array(invFreq.length);
  for (let i = 0; i < out.length; i++) {
    const divisor = bytes.readFloatLE(i * 4);
    if (!(divisor > 0) || !Number.isFinite(divisor)) throw new ModelLoadError(`${where}: value ${i} is ${divisor}; frequency divisors must be positive`);
    out[i] = invFreq[i] / divisor;
  }
  return out;
}

function tensorInfo(gguf: GgufFile, t: GgufTensorInfo): TensorInfo {
  const dtype = DTYPE_BY_CODE.get(t.type);
  if (!dtype) {
    throw new ModelLoadError(
      `${gguf.path}: tensor ${t.name} has type ${ggmlTypeName(t.type)}, which pagedinfer does not support yet ` +
        `(supported: ${Object.keys(DTYPE_CODES).join(', ')}): use a file quantized to one of these, e.g. Q4_K_M or Q8_0`,
    );
  }
  return {
    name: t.name,
    file: path.resolve(gguf.path),
    offset: t.offset,
    byteLength: t.byteLength,
    dtype,
    // GGUF lists dimensions innermost first (ggml's ne); ModelSpec wants outermost first.
    shape: [...t.dims].reverse(),
    sourceName: t.name,
  };
}
