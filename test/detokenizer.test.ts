// IncrementalDetokenizer: streamed deltas must concatenate to the full decode, for every way of
// chunking the tokens, without ever showing a half-decoded character.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../lib/tokenizer/detokenizer.js';
import type { Tokenizer } from '../lib/tokenizer/types.js';
import { HAVE_SHARED } from './helpers/shared.js';
import { TOKENIZER_NAMES, lenmlTokenizer, tokenizerReference, type TokenizerName } from './helpers/tokenizers.js';

const FFFD = '\uFFFD';

const TEXTS = [
  'Hello world, this is a test.',
  'emoji 🤖🚀 and ZWJ 👨‍👩‍👧 family',
  '日本語のテキスト and 中文测试：你好，世界！',
  '   leading spaces and trailing  ',
  'naïve café résumé Ελληνικά и русский',
  'code:\n\tfor (int i = 0; i < n; ++i) { x[i] += 1; }\n',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ⚙️ ﷽ 🧑🏽‍🚀',
];

/** Special tokens inside text, per tokenizer. */
const WITH_SPECIALS: Record<TokenizerName, string> = {
  llama2: '<s>Hi there</s> and <s>again',
  llama3: '<|begin_of_text|>Hi there<|end_of_text|> and 🤖<|eot_id|>again',
  qwen3: '<|im_start|>user\nHi 🤖<|im_end|>\n<|im_start|>assistant\n',
};

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Streams `ids` in chunks of the given sizes; returns the deltas (the last one from finish()). */
function stream(tok: Tokenizer, prompt: number[], ids: number[], chunkSize: () => number, skip = true): string[] {
  const detok = new IncrementalDetokenizer(tok, prompt, skip);
  const deltas: string[] = [];
  for (let i = 0; i < ids.length; ) {
    const n = Math.max(1, chunkSize());
    deltas.push(detok.add(n === 1 ? ids[i] : ids.slice(i, i + n)));
    i += n;
  }
  deltas.push(detok.finish());
  return deltas;
}

const full = (tok: Tokenizer, ids: number[], skip = true) => tok.decode(ids, { skipSpecialTokens: skip, cleanUpTokenizationSpaces: false });

async function idLists(name: TokenizerName): Promise<number[][]> {
  const tok = await lenmlTokenizer(name);
  const lists = TEXTS.map((t) => tok.encode(t));
  if (HAVE_SHARED) for (const v of tokenizerReference(name).vectors) lists.push(v.ids, v.ids_with_special);
  return lists.filter((ids) => ids.length > 0);
}

for (const name of TOKENIZER_NAMES) {
  describe(`${name}: incremental detokenization`, () => {
    it('one token at a time concatenates exactly to the full decode, never showing U+FFFD', async () => {
      const tok = await lenmlTokenizer(name);
      for (const ids of await idLists(name)) {
        const deltas = stream(tok, [], ids, () => 1);
        expect(deltas.join('')).toBe(full(tok, ids));
        for (const d of deltas) expect(d).not.toContain(FFFD);
      }
    });

    it('random chunk sizes give the same text', async () => {
      const tok = await lenmlTokenizer(name);
      const random = mulberry32(1234);
      for (const ids of await idLists(name)) {
        for (let round = 0; round < 3; round++) {
          const deltas = stream(tok, [], ids, () => 1 + Math.floor(random() * 6));
          expect(deltas.join('')).toBe(full(tok, ids));
          for (const d of deltas) expect(d).not.toContain(FFFD);
        }
      }
    });

    it("the prompt's last tokens give the first output token its leading space", async () => {
      const tok = await lenmlTokenizer(name);
      for (const ids of await idLists(name)) {
        const text = full(tok, ids);
        for (let k = 1; k < ids.length; k++) {
          const promptText = full(tok, ids.slice(0, k));
          // Only where the prompt ends on a character boundary is the output's text well defined.
          if (promptText.endsWith(FFFD) || !text.startsWith(promptText)) continue;
          expect(stream(tok, ids.slice(0, k), ids.slice(k), () => 1).join('')).toBe(text.slice(promptText.length));
        }
      }
    });

    it('special tokens are skipped or kept as asked', async () => {
      const tok = await lenmlTokenizer(name);
      const ids = tok.encode(WITH_SPECIALS[name], { addSpecialTokens: false });
      expect(ids.some((id) => tok.isSpecialToken(id))).toBe(true);
      const kept = stream(tok, [], ids, () => 1, false).join('');
      const skipped = stream(tok, [], ids, () => 1, true).join('');
      expect(kept).toBe(full(tok, ids, false));
      expect(skipped).toBe(full(tok, ids, true));
      expect(kept.length).toBeGreaterThan(skipped.length);
      for (const id of ids.filter((i) => tok.isSpecialToken(i))) {
        expect(kept).toContain(tok.idToToken(id));
        expect(skipped).not.toContain(tok.idToToken(id));
      }
    });

    it('ids outside the vocabulary add nothing', async () => {
      const tok = await lenmlTokenizer(name);
      const detok = new IncrementalDetokenizer(tok, []);
      expect(detok.add(10_000_000)).toBe('');
      expect(detok.add(tok.encode('Hi', { addSpecialTokens: false })) + detok.finish()).toBe('Hi');
    });
  });
}

describe('random token streams (garbage bytes, split characters, special tokens)', () => {
  // Random ids make invalid UTF-8 all the time; the pieces of real emoji and CJK encodings
  // mixed in make characters split over several tokens. The streamed text must still be
  // exactly the full decode.
  const RANDOM_IDS: Record<TokenizerName, fc.Arbitrary<number>> = {
    llama2: fc.oneof(fc.integer({ min: 3, max: 258 }), fc.integer({ min: 259, max: 31999 }), fc.constantFrom(0, 1, 2)),
    llama3: fc.oneof(fc.integer({ min: 0, max: 127999 }), fc.integer({ min: 128000, max: 128010 })),
    qwen3: fc.oneof(fc.integer({ min: 0, max: 151642 }), fc.integer({ min: 151643, max: 151668 })),
  };
  const PIECES = ['🤖', ' 👨‍👩‍👧', '日本語', ' 𝔘𝔫𝔦', '🧑🏽‍🚀', 'é', ' 中文测试', '﷽', 'Ελ'];

  for (const name of TOKENIZER_NAMES) {
    it(`${name}: any ids, any chunking, with or without a prompt`, async () => {
      const tok = await lenmlTokenizer(name);
      const pieces = PIECES.map((p) => tok.encode(p, { addSpecialTokens: false }));
      const ids = fc
        .array(fc.oneof(RANDOM_IDS[name].map((id) => [id]), fc.constantFrom(...pieces)), { maxLength: 16 })
        .map((parts) => parts.flat());
      fc.assert(
        fc.property(ids, ids, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }), fc.boolean(), (prompt, output, sizes, skip) => {
          let next = 0;
          const text = stream(tok, prompt, output, () => sizes[next++ % sizes.length], skip).join('');
          const promptText = full(tok, prompt, skip);
          const whole = full(tok, [...prompt, ...output], skip);
          if (prompt.length === 0) expect(text).toBe(full(tok, output, skip));
          else if (!promptText.endsWith(FFFD) && whole.startsWith(promptText)) expect(text).toBe(whole.slice(promptText.length));
        }),
        { numRuns: 200, seed: 20240601 },
      );
    });
  }
});

describe('byte-fallback tokens (llama2)', () => {
  const BYTE = (b: number) => 3 + b; // <0x00> is id 3

  it('an emoji split over byte tokens arrives whole', async () => {
    const tok = await lenmlTokenizer('llama2');
    const ids = tok.encode('go 🤖 now', { addSpecialTokens: false });
    expect(ids.map((id) => tok.idToToken(id))).toContain('<0xF0>');
    const detok = new IncrementalDetokenizer(tok, []);
    const deltas = ids.map((id) => detok.add(id));
    expect(deltas.filter((d) => d.includes('🤖'))).toHaveLength(1);
    expect(deltas.filter((d) => d === '')).toHaveLength(3); // the first three of the emoji's four bytes
    expect(deltas.join('') + detok.finish()).toBe('go 🤖 now');
  });

  it('an invalid byte shows as U+FFFD once the next token proves it is not a split character', async () => {
    const tok = await lenmlTokenizer('llama2');
    const ids = [22557, BYTE(0xff), 1526]; // ▁Hello <0xFF> ▁world
    const text = full(tok, ids);
    expect(text).toBe(`Hello${FFFD} world`);
    expect(stream(tok, [], ids, () => 1).join('')).toBe(text);
  });

  it('a character left unfinished at the end comes out of finish() as the full decode shows it', async () => {
    const tok = await lenmlTokenizer('llama2');
    const ids = [22557, BYTE(0xf0), BYTE(0x9f)];
    const detok = new IncrementalDetokenizer(tok, []);
    expect(ids.map((id) => detok.add(id))).toEqual(['Hello', '', '']);
    expect(detok.finish()).toBe(FFFD);
    expect(full(tok, ids)).toBe(`Hello${FFFD}`);
  });
});

describe('cost per token', () => {
  /** Wraps a tokenizer to record the longest id list any decode call received. */
  function measured(tok: Tokenizer): { tokenizer: Tokenizer; maxWindow: () => number } {
    let max = 0;
    const tokenizer: Tokenizer = Object.create(tok);
    tokenizer.decode = (ids, options) => {
      max = Math.max(max, ids.length);
      return tok.decode(ids, options);
    };
    return { tokenizer, maxWindow: () => max };
  }

  it('the decoded window stays small however long the sequence, special-token runs and invalid bytes included', async () => {
    const llama2 = await lenmlTokenizer('llama2');
    const story = llama2.encode('Once upon a time, there was a little girl named Lily. 日本語 🤖 ', { addSpecialTokens: false });
    const { tokenizer, maxWindow } = measured(llama2);
    const skipping = new IncrementalDetokenizer(tokenizer, story, true);
    const keeping = new IncrementalDetokenizer(tokenizer, story, false);
    for (let i = 0; i < 2000; i++) {
      for (const d of [skipping, keeping]) {
        d.add(story[i % story.length]);
        if (i % 100 === 0) for (let j = 0; j < 50; j++) d.add(2); // a run of EOS (ignoreEos)
        if (i % 500 === 0) for (let j = 0; j < 30; j++) d.add(3 + 0xff); // a run of invalid bytes
      }
    }
    expect(maxWindow()).toBeLessThanOrEqual(16);
  });
});
