// `pagedinfer info [model]`: what a model is (architecture, size, weight types, context, the
// memory it will need) and what this machine will run it on — without loading the weights.
import { Command } from 'commander';

import { readModelSource } from '../load.js';
import { countParameters } from '../llm.js';
import type { ModelSpec } from '../model/types.js';
import { getRuntimeInfo, runtimeInfoRows } from '../runtime-info.js';

const GiB = 2 ** 30;

function tensorClass(name: string): string {
  if (name.startsWith('token_embd')) return 'embedding';
  if (name.startsWith('output.')) return 'output';
  if (name.startsWith('rope_freqs')) return 'rope frequencies';
  if (name.includes('norm')) return 'norms';
  if (name.includes('.bias')) return 'biases';
  if (name.includes('attn_')) return 'attention';
  if (name.includes('ffn_')) return 'feed-forward';
  return 'other';
}

export function describeModel(spec: ModelSpec, dummyBytesPerWeight = 2) {
  const c = spec.config;
  const types: Record<string, string[]> = {};
  for (const t of spec.tensors) {
    const cls = tensorClass(t.name);
    types[cls] ??= [];
    if (!types[cls].includes(t.dtype)) types[cls].push(t.dtype);
  }
  // A tied output projection is the embedding table: say so rather than leave it out.
  const embedding = spec.tensors.find((t) => t.name === 'token_embd.weight');
  if (c.tieWordEmbeddings && embedding && !types.output) types.output = [`${embedding.dtype} (tied to the embedding)`];
  const parameters = countParameters(spec);
  const weightBytes = spec.tensors.length ? spec.tensors.reduce((n, t) => n + t.byteLength, 0) : parameters * dummyBytesPerWeight;
  // K and V of every layer, per token: float32 on the CPU backend, bfloat16 on CUDA.
  const kvPerToken = 2 * c.numLayers * c.numKvHeads * c.headDim;
  return {
    source: spec.source,
    architecture: c.architecture,
    parameters,
    weightTypes: Object.fromEntries(Object.entries(types).map(([k, v]) => [k, v.join(', ')])),
    context: c.maxContext,
    layers: c.numLayers,
    hiddenSize: c.hiddenSize,
    heads: `${c.numHeads} query / ${c.numKvHeads} key-value, head size ${c.headDim}`,
    vocabSize: c.vocabSize,
    memory: {
      weightsBytes: weightBytes,
      kvCacheBytesPerToken: { cpu: kvPerToken * 4, cuda: kvPerToken * 2 },
      fullContextBytes: { cpu: weightBytes + kvPerToken * 4 * c.maxContext, cuda: weightBytes + kvPerToken * 2 * c.maxContext },
    },
  };
}

function human(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function infoCommand(): Command {
  return new Command('info')
    .description('describe a model and the backend that would run it (weights are not loaded)')
    .argument('[model]', 'model directory, .gguf file, Hugging Face repo id, Ollama name, or a preset with --load-format dummy')
    .option('--load-format <format>', "'dummy' to describe a preset shape")
    .option('--backend <backend>', 'auto, cpu or cuda')
    .option('--json', 'print JSON')
    .action(async (model: string | undefined, o: { loadFormat?: string; backend?: 'auto' | 'cpu' | 'cuda'; json?: boolean }) => {
      const { spec, tokenizer } = await readModelSource(model, {
        loadFormat: o.loadFormat === 'dummy' ? 'dummy' : 'auto',
      });
      // Which addon would run, why, and what it found (GPU, driver, cuBLASLt, CPU SIMD level).
      const runtime = getRuntimeInfo({ backend: o.backend });
      const info = {
        model: describeModel(spec),
        tokenizer: tokenizer ? { vocabSize: tokenizer.vocabSize, chatTemplate: tokenizer.hasChatTemplate } : null,
        backend: { ...runtime, name: runtime.backend },
      };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return;
      }
      const m = info.model;
      const lines = [
        `model         ${m.source.path} (${m.source.format})`,
        `architecture  ${m.architecture}, ${(m.parameters / 1e6).toFixed(2)}M parameters, ${m.layers} layers, hidden ${m.hiddenSize}`,
        `attention     ${m.heads}`,
        `vocabulary    ${m.vocabSize}${info.tokenizer ? (info.tokenizer.chatTemplate ? ' (tokenizer with chat template)' : ' (tokenizer)') : ' (no tokenizer: token ids only)'}`,
        `context       ${m.context} tokens`,
        `weight types  ${Object.entries(m.weightTypes).map(([k, v]) => `${k} ${v}`).join('; ') || 'dummy'}`,
        `memory        weights ${human(m.memory.weightsBytes)}; KV cache ${human(m.memory.kvCacheBytesPerToken.cpu)}/token on the CPU, ${human(m.memory.kvCacheBytesPerToken.cuda)}/token on CUDA; full context ${human(m.memory.fullContextBytes.cpu)} (CPU), ${human(m.memory.fullContextBytes.cuda)} (CUDA)`,
        ...runtimeInfoRows(runtime).map(([k, v]) => `${k.padEnd(13)} ${v}`),
        `pagedinfer    ${runtime.package.version} (${runtime.platform}, Node.js ${runtime.node})`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
