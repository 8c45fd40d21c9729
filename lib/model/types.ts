// The model description every loader (safetensors directory, GGUF file, dummy weights) produces
// and the native addon consumes. Plain data: no tensors, only where the bytes are.

export type Architecture = 'llama' | 'qwen2' | 'qwen3';

/**
 * Weight storage types. The numeric codes are GGUF's ggml_type values, so a GGUF tensor type
 * needs no table and native code shares one enum (native/core/dtype.h).
 */
export const DTYPE_CODES = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 8,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
} as const;
export type WeightDType = keyof typeof DTYPE_CODES;

/** Rotary embedding layout: 'neox' rotates the two halves of a head (Hugging Face files), 'normal' rotates interleaved pairs (llama.cpp's llama). */
export type RopeStyle = 'neox' | 'normal';

export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | { type: 'linear'; factor: number };

export interface RopeConfig {
  theta: number;
  style: RopeStyle;
  /** Dimensions of each head that rotate (the whole head for every supported architecture). */
  rotaryDim: number;
  scaling: RopeScaling | null;
}

export interface ModelConfig {
  architecture: Architecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Longest sequence (prompt + output) the model was made for. */
  maxContext: number;
  rmsNormEps: number;
  rope: RopeConfig;
  tieWordEmbeddings: boolean;
  /** Bias on the q, k and v projections (qwen2). */
  attentionBias: boolean;
  /** Per-head RMSNorm of q and k before rope (qwen3). */
  qkNorm: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/**
 * One weight tensor, by canonical name (GGUF's names: `token_embd.weight`, `blk.3.attn_q.weight`, ...).
 * `shape` is outermost first: a linear layer is [outFeatures, inFeatures], row-major.
 */
export interface TensorInfo {
  name: string;
  /** Absolute path of the file that holds the bytes. */
  file: string;
  /** Byte offset of the first element in that file. */
  offset: number;
  /** Bytes of the tensor in the file (checked against the file size before use). */
  byteLength: number;
  dtype: WeightDType;
  shape: number[];
  /** Name in the source file, for error messages. */
  sourceName: string;
}

export interface ModelSpec {
  config: ModelConfig;
  tensors: TensorInfo[];
  /** Where it came from, for `info` and errors. */
  source: { format: 'safetensors' | 'gguf' | 'dummy'; path: string };
  /**
   * Inverse rotary frequencies per rotated pair (rotaryDim / 2 values), computed once in
   * TypeScript from theta and scaling (or read from a GGUF `rope_freqs` tensor).
   */
  ropeInvFreq: Float32Array;
}
