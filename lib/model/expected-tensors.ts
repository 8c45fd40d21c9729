// The tensors the forward needs for a config, with their shapes (outermost first), so every
// loader can say exactly which tensor is missing or wrong before native code sees the list.
import { ModelLoadError } from '../errors.js';
import type { ModelConfig, TensorInfo } from './types.js';

export interface ExpectedTensor {
  name: string;
  shape: number[];
}

export function expectedTensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize;
  const Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', shape: [V, H] },
    { name: 'output_norm.weight', shape: [H] },
  ];
  if (!c.tieWordEmbeddings) out.push({ name: 'output.weight', shape: [V, H] });
  for (let i = 0; i < c.numLayers; i++) {
    const p = `blk.${i}.`;
    out.push(
      { name: `${p}attn_norm.weight`, shape: [H] },
      { name: `${p}attn_q.weight`, shape: [Q, H] },
      { name: `${p}attn_k.weight`, shape: [KV, H] },
      { name: `${p}attn_v.weight`, shape: [KV, H] },
      { name: `${p}attn_output.weight`, shape: [H, Q] },
    );
    if (c.attentionBias)
      out.push({ name: `${p}attn_q.bias`, shape: [Q] }, { name: `${p}attn_k.bias`, shape: [KV] }, { name: `${p}attn_v.bias`, shape: [KV] });
    if (c.qkNorm)
      out.push({ name: `${p}attn_q_norm.weight`, shape: [c.headDim] }, { name: `${p}attn_k_norm.weight`, shape: [c.headDim] });
    out.push(
      { name: `${p}ffn_norm.weight`, shape: [H] },
      { name: `${p}ffn_gate.weight`, shape: [F, H] },
      { name: `${p}ffn_up.weight`, shape: [F, H] },
      { name: `${p}ffn_down.weight`, shape: [H, F] },
    );
  }
  return out;
}

/**
 * Throws ModelLoadError naming the first missing or misshapen tensor. `displayName` maps a
 * canonical name to the file's own name for the message.
 */
export function checkTensors(config: ModelConfig, tensors: TensorInfo[], source: string): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const output = byName.get('output.weight');
  if (config.tieWordEmbeddings && output && output.shape.join() !== [config.vocabSize, config.hiddenSize].join())
    throw new ModelLoadError(`${source}: tensor ${output.sourceName} has shape [${output.shape.join(', ')}], expected [${config.vocabSize}, ${config.hiddenSize}]`);
  for (const e of expectedTensors(config)) {
    const t = byName.get(e.name);
    if (!t) throw new ModelLoadError(`${source}: missing tensor ${e.name} — is the file complete, and does the config match it?`);
    if (t.shape.join() !== e.shape.join()) {
      const hint =
        e.name.includes('attn_k') || e.name.includes('attn_v')
          ? ' — is this a grouped-query model with a wrong num_key_value_heads in the config?'
          : ' — do the config sizes match the weights?';
      throw new ModelLoadError(
        `${source}: tensor ${t.sourceName}: expected shape [${e.shape.join(', ')}], file has [${t.shape.join(', ')}]${hint}`,
      );
    }
  }
}
