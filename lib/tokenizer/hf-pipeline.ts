// How transformers 5 reads a tokenizer.json: for most classes the file's pipeline as it is,
// but the Llama class rebuilds its SentencePiece pipeline from tokenizer_config.json. We
// apply the same rewrite so that ids agree with what AutoTokenizer (and so vLLM) produces.

type Json = Record<string, unknown>;

const SPIECE_UNDERLINE = '\u2581';
const LLAMA_CLASSES = new Set(['LlamaTokenizer', 'LlamaTokenizerFast']);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The content of a special token as tokenizer_config.json writes it: a string or an AddedToken-like object. */
export function specialTokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return null;
}

/** The pre-2023 conversion of SentencePiece: a normalizer that prepends ▁ and turns spaces into ▁. */
function isLegacySentencePieceNormalizer(normalizer: unknown): boolean {
  if (!isObject(normalizer) || normalizer.type !== 'Sequence' || !Array.isArray(normalizer.normalizers)) return false;
  const steps = normalizer.normalizers as unknown[];
  const prepend = steps.find((s) => isObject(s) && s.type === 'Prepend');
  const replace = steps.find((s) => isObject(s) && s.type === 'Replace');
  return (
    steps.length === 2 &&
    isObject(prepend) &&
    prepend.prepend === SPIECE_UNDERLINE &&
    isObject(replace) &&
    isObject(replace.pattern) &&
    replace.pattern.String === ' ' &&
    replace.content === SPIECE_UNDERLINE
  );
}

function templateProcessing(bos: string | null, eos: string | null, ids: Map<string, number>): Json {
  const piece = (token: string, typeId: number) => ({ SpecialToken: { id: token, type_id: typeId } });
  const side = (seq: 'A' | 'B', typeId: number) => [
    ...(bos ? [piece(bos, typeId)] : []),
    { Sequence: { id: seq, type_id: typeId } },
    ...(eos ? [piece(eos, typeId)] : []),
  ];
  const special: Json = {};
  for (const token of [bos, eos]) {
    if (token) special[token] = { id: token, ids: [ids.get(token)], tokens: [token] };
  }
  return { type: 'TemplateProcessing', single: side('A', 0), pair: [...side('A', 0), ...side('B', 1)], special_tokens: special };
}

/**
 * Returns the tokenizer.json to build, rewritten where transformers 5 would build a different pipeline.
 *
 * The Llama class (tokenizer_class LlamaTokenizer / LlamaTokenizerFast) with a SentencePiece
 * BPE vocabulary gets: no normalizer; a Metaspace pre-tokenizer that prepends ▁ only where the
 * text does not start with one ("always" for legacy tokenizers, "first" otherwise, "never"
 * without add_prefix_space); the matching decoder; BOS/EOS from add_bos_token/add_eos_token.
 * The visible differences from the file's own pipeline are texts that start with a space and
 * text right after a special token (" Hello" → ▁Hello, not ▁ ▁Hello).
 * Byte-level vocabularies that merely name the Llama class are left alone.
 */
export function transformersPipeline(tokenizerJson: Json, config: Json): Json {
  const model = tokenizerJson.model;
  if (
    !LLAMA_CLASSES.has(String(config.tokenizer_class)) ||
    !isObject(model) ||
    model.type !== 'BPE' ||
    tokenizerJson.pre_tokenizer != null ||
    !isLegacySentencePieceNormalizer(tokenizerJson.normalizer)
  ) {
    return tokenizerJson;
  }
  const addPrefixSpace = config.add_prefix_space !== false;
  const legacy = config.legacy === true;
  const prependScheme = !addPrefixSpace ? 'never' : legacy ? 'always' : 'first';

  const ids = new Map<string, number>();
  for (const t of (tokenizerJson.added_tokens as unknown[]) ?? []) {
    if (isObject(t) && typeof t.content === 'string' && typeof t.id === 'number') ids.set(t.content, t.id);
  }
  const vocab = isObject(model.vocab) ? model.vocab : {};
  const idOf = (token: string | null) => (token === null ? undefined : (ids.get(token) ?? (vocab[token] as number | undefined)));
  const bos = config.add_bos_token === false ? null : (specialTokenContent(config.bos_token) ?? '<s>');
  const eos = config.add_eos_token === true ? (specialTokenContent(config.eos_token) ?? '</s>') : null;
  for (const token of [bos, eos]) {
    const id = idOf(token);
    if (token !== null && id !== undefined) ids.set(token, id);
  }

  const decoders: Json[] = [
    { type: 'Replace', pattern: { String: SPIECE_UNDERLINE }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ];
  if (addPrefixSpace) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });

  return {
    ...tokenizerJson,
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: SPIECE_UNDERLINE, prepend_scheme: prependScheme, split: false },
    decoder: { type: 'Sequence', decoders },
    post_processor: templateProcessing(bos !== null && ids.has(bos) ? bos : null, eos !== null && ids.has(eos) ? eos : null, ids),
  };
}
