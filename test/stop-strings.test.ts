// StopStringMatcher: stops found across chunk boundaries, text held back only while it could
// still become a stop, and the same result however the text is chunked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../lib/errors.js';
import { StopStringMatcher, type StopStringOptions } from '../lib/tokenizer/stop-strings.js';

interface Run {
  text: string;
  stop: string | null;
  /** Text emitted by each push (then the flush, when no stop matched). */
  emitted: string[];
}

function run(stops: string[], chunks: string[], options?: StopStringOptions): Run {
  const matcher = new StopStringMatcher(stops, options);
  const emitted: string[] = [];
  let stop: string | null = null;
  for (const chunk of chunks) {
    const r = matcher.push(chunk);
    emitted.push(r.text);
    if (r.stop !== null) {
      stop = r.stop;
      break;
    }
  }
  if (stop === null) emitted.push(matcher.flush());
  return { text: emitted.join(''), stop, emitted };
}

describe('StopStringMatcher', () => {
  it('no stop: everything comes out, what could start a stop only at flush', () => {
    const r = run(['###'], ['Hello ', 'world #', '#']);
    expect(r).toEqual({ text: 'Hello world ##', stop: null, emitted: ['Hello ', 'world ', '', '##'] });
    expect(run([], ['a', 'b'])).toEqual({ text: 'ab', stop: null, emitted: ['a', 'b', ''] });
  });

  it('a stop inside one chunk: the stop and everything after it are dropped', () => {
    expect(run(['\n\n'], ['First line.\n\nSecond'])).toEqual({ text: 'First line.', stop: '\n\n', emitted: ['First line.'] });
  });

  it('a stop split across chunks', () => {
    const r = run(['</answer>'], ['The answer is 42.</an', 'sw', 'er> trailing']);
    expect(r.text).toBe('The answer is 42.');
    expect(r.stop).toBe('</answer>');
    expect(r.emitted).toEqual(['The answer is 42.', '', '']);
  });

  it('a stop split one character per chunk', () => {
    const chunks = [...'abc STOP def'];
    expect(run(['STOP'], chunks)).toMatchObject({ text: 'abc ', stop: 'STOP' });
  });

  it('held-back text that turns out not to be a stop is released', () => {
    const r = run(['STOP'], ['go ST', 'OCK STO', 'P']);
    expect(r.emitted).toEqual(['go ', 'STOCK ', '']);
    expect(r).toMatchObject({ text: 'go STOCK ', stop: 'STOP' });
  });

  it('overlapping prefixes: a partial match restarts inside the held text', () => {
    // "aab" inside "aaab": the first "a" cannot start it once the fourth character arrives.
    expect(run(['aab'], ['a', 'a', 'a', 'b', 'c'])).toMatchObject({ text: 'a', stop: 'aab' });
    // "abac" in "xababac": the held "aba" fails at the second "b", whose "ab" starts the match.
    const r = run(['abac'], ['xaba', 'bac!']);
    expect(r).toMatchObject({ text: 'xab', stop: 'abac' });
    expect(r.emitted).toEqual(['x', 'ab']);
  });

  it('several stops: the first one to complete wins', () => {
    expect(run(['world', 'lo w'], ['Hello world'])).toMatchObject({ text: 'Hel', stop: 'lo w' });
    // "c" completes before "abcd" does, whatever the chunking.
    expect(run(['abcd', 'c'], ['abcd'])).toMatchObject({ text: 'ab', stop: 'c' });
    expect(run(['abcd', 'c'], ['a', 'b', 'c', 'd'])).toMatchObject({ text: 'ab', stop: 'c' });
    // Two stops ending at the same place: the longer (earlier) one.
    expect(run(['bc', 'abc'], ['xabc'])).toMatchObject({ text: 'x', stop: 'abc' });
  });

  it('a stop at the very start gives empty text', () => {
    expect(run(['<|end|>'], ['<|end|>more'])).toEqual({ text: '', stop: '<|end|>', emitted: [''] });
    expect(run(['<|end|>'], ['<|', 'end|>'])).toEqual({ text: '', stop: '<|end|>', emitted: ['', ''] });
  });

  it('includeStop keeps the stop string (and still drops what follows)', () => {
    expect(run(['</s>'], ['done</', 's> extra'], { includeStop: true })).toMatchObject({ text: 'done</s>', stop: '</s>' });
  });

  it('text after the stop is dropped; flush after a stop is empty', () => {
    const m = new StopStringMatcher(['x']);
    expect(m.push('axb')).toEqual({ text: 'a', stop: 'x' });
    expect(m.stop).toBe('x');
    expect(m.push('more')).toEqual({ text: '', stop: null });
    expect(m.flush()).toBe('');
  });

  it('non-ASCII stops and text', () => {
    expect(run(['。'], ['日本語です', '。次'])).toMatchObject({ text: '日本語です', stop: '。' });
    expect(run(['🛑'], ['go 🛑 no'])).toMatchObject({ text: 'go ', stop: '🛑' });
  });

  it('rejects empty or non-string stops', () => {
    expect(() => new StopStringMatcher([''])).toThrow(InvalidRequestError);
    expect(() => new StopStringMatcher([3 as unknown as string])).toThrow(InvalidRequestError);
  });

  it('any chunking gives the same result as the whole text at once', () => {
    // Reference: the stop whose end comes first (then the longest) truncates the whole text.
    const reference = (stops: string[], text: string) => {
      let best: { start: number; end: number; stop: string } | null = null;
      for (const stop of stops) {
        const start = text.indexOf(stop);
        if (start < 0) continue;
        const end = start + stop.length;
        if (best === null || end < best.end || (end === best.end && start < best.start)) best = { start, end, stop };
      }
      return best === null ? { text, stop: null } : { text: text.slice(0, best.start), stop: best.stop };
    };
    const alphabet = fc.constantFrom('a', 'b', 'c', ' ', '\n');
    const word = fc.array(alphabet, { minLength: 1, maxLength: 4 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 3 }),
        fc.array(alphabet, { maxLength: 40 }).map((cs) => cs.join('')),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 12 }),
        (stops, text, sizes) => {
          const chunks: string[] = [];
          for (let i = 0, k = 0; i < text.length; k++) {
            const n = sizes[k % sizes.length];
            chunks.push(text.slice(i, i + n));
            if (k % 3 === 1) chunks.push(''); // a token that added no text
            i += n;
          }
          const r = run(stops, chunks);
          expect({ text: r.text, stop: r.stop }).toEqual(reference(stops, text));
        },
      ),
      { numRuns: 500, seed: 7 },
    );
  });
});
