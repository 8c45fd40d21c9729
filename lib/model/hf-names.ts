// Hugging Face tensor names → the canonical (GGUF-style) names native code looks up.

const GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

const LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

const LAYER_PATTERN = /^model\.layers\.(\d+)\.(.+)$/;

/** The canonical name, or null for tensors the forward does not use (e.g. rotary inv_freq buffers). */
export function canonicalTensorName(hfName: string): string | null {
  if (hfName in GLOBAL) return GLOBAL[hfName];
  const m = LAYER_PATTERN.exec(hfName);
  if (!m) return null;
  const suffix = LAYER[m[2]];
  return suffix ? `blk.${Number(m[1])}.${suffix}` : null;
}

/** The Hugging Face name of a canonical name, for error messages. */
export function hfTensorName(canonical: string): string {
  for (const [hf, c] of Object.entries(GLOBAL)) if (c === canonical) return hf;
  const m = /^blk\.(\d+)\.(.+)$/.exec(canonical);
  if (m) for (const [hf, c] of Object.entries(LAYER)) if (c === m[2]) return `model.layers.${m[1]}.${hf}`;
  return canonical;
}
