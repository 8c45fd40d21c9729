// The public model object: a loaded model, its tokenizer and its engine. Turns prompts (text,
// chat messages or token ids) into engine requests and engine chunks into what users read.
import { Engine } from './engine/engine.js';
import type { EngineChunk, EngineOptions, EngineStats, FinishedRequest, FinishReason, GenerateOptions, TokenLogprob } from './engine/types.js';
import { InvalidRequestError } from './errors.js';
import type { ModelConfig, ModelSpec } from './model/types.js';
import type { BackendSelection, NativeModelRunner } from './native.js';
import { normalizeSamplingParams, type SamplingParams, type SamplingParamsInput } from './sampling/params.js';
import type { ChatMessage, Tokenizer } from './tokenizer/types.js';

/** A prompt: text, chat messages (rendered with the model's chat template), or token ids. */
export type Prompt = string | ChatMessage[] | { promptTokenIds: number[] };

export interface GenerationChunk extends EngineChunk {}

export interface GenerationOutput {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[] | null;
  finishReason: FinishReason;
  stopReason: string | number | null;
}

export interface GenerationResult {
  /** The first output's text and tokens (the only one unless n > 1). */
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  outputs: GenerationOutput[];
  promptTokenIds: number[];
  usage: { promptTokens: number; completionTokens: number; cachedPromptTokens: number };
}

export interface ModelInfo {
  source: ModelSpec['source'];
  config: ModelConfig;
  backend: BackendSelection;
  /** The backend's own description (threads and SIMD level, or the GPU). */
  device: string;
  parameters: number;
  kvCache: { blocks: number; blockSize: number; bytesPerBlock: number };
  /** What one step may carry (the engine's resolved limits). */
  steps: { maxNumSeqs: number; maxNumBatchedTokens: number; maxPrefillTokensWhileDecoding: number };
  /** Where loadModel() spent its time (absent for an LLM built some other way). */
  load?: LoadTimes;
}

/** loadModel()'s phases, in seconds. */
export interface LoadTimes {
  /** Config, tensor list and tokenizer read from the model files. */
  modelFiles: number;
  /** Backend started and the weights on its device (weightBytes of them). */
  weights: number;
  weightBytes: number;
  /** KV cache sized and allocated, and the engine's warm-up steps run. */
  engine: number;
}

export class LLM {
  readonly tokenizer: Tokenizer | null;
  readonly config: ModelConfig;
  private readonly spec: ModelSpec;
  private readonly runner: NativeModelRunner;
  private readonly engine: Engine;
  /** Longest prompt + output a request may have (the engine's, at most the model's context). */
  readonly maxModelLen: number;
  private readonly blockSize: number;
  private readonly loadTimes: LoadTimes | undefined;

  constructor(
    spec: ModelSpec,
    tokenizer: Tokenizer | null,
    runner: NativeModelRunner,
    engine: Engine,
    options: { maxModelLen: number; blockSize: number; loadTimes?: LoadTimes },
  ) {
    this.spec = spec;
    this.config = spec.config;
    this.tokenizer = tokenizer;
    this.runner = runner;
    this.engine = engine;
    this.maxModelLen = options.maxModelLen;
    this.blockSize = options.blockSize;
    this.loadTimes = options.loadTimes;
  }

  /** `loadTimes`: the phases before this one (modelFiles, weights); the engine's is timed here. */
  static async create(
    spec: ModelSpec,
    tokenizer: Tokenizer | null,
    runner: NativeModelRunner,
    options: EngineOptions = {},
    loadTimes?: Omit<LoadTimes, 'engine'>,
  ): Promise<LLM> {
    const maxModelLen = Math.min(options.maxModelLen ?? spec.config.maxContext, spec.config.maxContext);
    const start = performance.now();
    const engine = await Engine.create(runner, tokenizer, { ...options, maxModelLen });
    const load = loadTimes && { ...loadTimes, engine: (performance.now() - start) / 1000 };
    return new LLM(spec, tokenizer, runner, engine, { maxModelLen, blockSize: options.blockSize ?? 16, loadTimes: load });
  }

  get info(): ModelInfo {
    const stats = this.engine.stats();
    return {
      source: this.spec.source,
      config: this.config,
      backend: this.runner.backend,
      device: this.runner.describe(),
      parameters: countParameters(this.spec),
      kvCache: { blocks: stats.numBlocks, blockSize: this.blockSize, bytesPerBlock: this.runner.kvCacheBytesPerBlock(this.blockSize) },
      steps: {
        maxNumSeqs: this.engine.options.maxNumSeqs,
        maxNumBatchedTokens: this.engine.options.maxNumBatchedTokens,
        maxPrefillTokensWhileDecoding: this.engine.options.maxPrefillTokensWhileDecoding,
      },
      ...(this.loadTimes ? { load: this.loadTimes } : {}),
    };
  }

  stats(): EngineStats {
    return this.engine.stats();
  }

  /** Called with each request's outcome, usage and timings when it ends (metrics, logs). Returns an unsubscribe function. */
  onRequestFinished(listener: (r: FinishedRequest) => void): () => void {
    return this.engine.onRequestFinished(listener);
  }

  /** Token ids of a prompt, as the model will see them. */
  tokenize(prompt: Prompt): number[] {
    if (typeof prompt === 'string') return this.requireTokenizer().encode(prompt, { addSpecialTokens: true });
    if (Array.isArray(prompt)) {
      if (prompt.length === 0) throw new InvalidRequestError('messages must not be empty', 'messages');
      const tok = this.requireTokenizer();
      // The template writes BOS and the other special tokens itself.
      return tok.encode(tok.applyChatTemplate(prompt, { addGenerationPrompt: true }), { addSpecialTokens: false });
    }
    const ids = prompt?.promptTokenIds;
    if (!Array.isArray(ids) || ids.some((t) => !Number.isInteger(t) || t < 0 || t >= this.config.vocabSize))
      throw new InvalidRequestError(`promptTokenIds must be token ids in [0, ${this.config.vocabSize})`, 'promptTokenIds');
    return [...ids];
  }

  /** Checks and completes sampling parameters for a prompt of this length. */
  samplingParams(params: SamplingParamsInput | undefined, promptLength: number): SamplingParams {
    return normalizeSamplingParams(params ?? {}, { maxModelLen: this.maxModelLen, promptLength, vocabSize: this.config.vocabSize });
  }

  /** Streams the completion: one chunk per new piece of text of each output sequence. */
  generate(prompt: Prompt, params?: SamplingParamsInput, options: GenerateOptions = {}): AsyncIterable<GenerationChunk> {
    const promptTokenIds = this.tokenize(prompt);
    const sampling = this.samplingParams(params, promptTokenIds.length);
    return this.engine.generate({ promptTokenIds }, sampling, options);
  }

  /** The whole completion at once. */
  async complete(prompt: Prompt, params?: SamplingParamsInput, options: GenerateOptions = {}): Promise<GenerationResult> {
    const promptTokenIds = this.tokenize(prompt);
    const sampling = this.samplingParams(params, promptTokenIds.length);
    const outputs: GenerationOutput[] = Array.from({ length: sampling.n }, (_, index) => ({
      index,
      text: '',
      tokenIds: [],
      logprobs: sampling.logprobs === null ? null : [],
      finishReason: 'abort' as FinishReason,
      stopReason: null,
    }));
    let usage = { promptTokens: promptTokenIds.length, completionTokens: 0, cachedPromptTokens: 0 };
    for await (const chunk of this.engine.generate({ promptTokenIds }, sampling, options)) {
      const out = outputs[chunk.index];
      out.text += chunk.text;
      out.tokenIds.push(...chunk.tokenIds);
      if (chunk.logprobs && out.logprobs) out.logprobs.push(...chunk.logprobs);
      if (chunk.finishReason) {
        out.finishReason = chunk.finishReason;
        out.stopReason = chunk.stopReason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    return { text: outputs[0].text, tokenIds: outputs[0].tokenIds, finishReason: outputs[0].finishReason, outputs, promptTokenIds, usage };
  }

  /** Aborts running requests, stops the engine and frees the model's memory. */
  async close(): Promise<void> {
    await this.engine.shutdown();
    this.runner.close();
  }

  private requireTokenizer(): Tokenizer {
    if (!this.tokenizer)
      throw new InvalidRequestError('this model has no tokenizer: pass the prompt as { promptTokenIds: [...] }', 'prompt');
    return this.tokenizer;
  }
}

export function countParameters(spec: ModelSpec): number {
  const c = spec.config;
  // rope_freqs (llama3 scaling in GGUF files) is a table derived from the config, not a weight.
  if (spec.tensors.length > 0)
    return spec.tensors.filter((t) => t.name !== 'rope_freqs.weight').reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  // Dummy weights: count from the shapes the forward uses.
  const attn = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const perLayer = attn + mlp + 2 * c.hiddenSize;
  return c.numLayers * perLayer + c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2) + c.hiddenSize;
}
